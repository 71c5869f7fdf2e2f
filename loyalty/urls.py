from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from loyalty.api.errors import api_not_found
from loyalty.health import healthz

handler404 = "loyalty.api.errors.page_not_found"
handler500 = "loyalty.api.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("loyalty.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
    # Staff are the web's users (members and POS systems use the API): the root opens the admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
