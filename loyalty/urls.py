from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from loyalty.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # Staff are the only web users until the member API lands: the root opens the admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
