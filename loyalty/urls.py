from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from loyalty.health import healthz

handler404 = "loyalty.api.errors.page_not_found"
handler500 = "loyalty.api.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("loyalty.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Staff are the only web users until the member API lands: the root opens the admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
