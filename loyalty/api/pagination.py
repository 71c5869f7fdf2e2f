"""Page-number pagination for the API's lists (`?page=2&page_size=100`)."""

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Page(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        """`page` is a positive integer (DRF would also take "" and "last"); past the end: 404."""
        return self._positive_int(request, self.page_query_param) or 1

    def get_page_size(self, request):
        """`page_size` is a positive integer (DRF would ignore anything else); above the
        maximum it gets the maximum."""
        self._positive_int(request, self.page_size_query_param)
        return super().get_page_size(request)

    @staticmethod
    def _positive_int(request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit() and int(raw) > 0):
            raise ValidationError({name: [_("Enter a positive integer.")]})
        return int(raw)
