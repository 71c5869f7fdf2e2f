from django.core.management.base import BaseCommand, CommandError

from loyalty.errors import LoyaltyError
from members.api_keys import SCOPES, api_key_create
from members.models import Store


class Command(BaseCommand):
    help = "Create an integration API key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            required=True,
            help="comma-separated: " + ", ".join(sorted(SCOPES)),
        )
        parser.add_argument("--store", help="store code: the key acts only for this store")

    def handle(self, *args, name, scopes, store=None, **options):
        store_obj = None
        if store:
            store_obj = Store.objects.filter(code=store).first()
            if store_obj is None:
                raise CommandError(f"--store: no store with code {store!r}")
        try:
            key, raw = api_key_create(
                name=name,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                store=store_obj,
            )
        except LoyaltyError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        self.stdout.write(raw)
        self.stderr.write(f"created API key {key} with scopes {', '.join(key.scopes)}")
