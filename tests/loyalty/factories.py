import factory

from loyalty.models import CouponTemplate


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CouponTemplate

    code = factory.Sequence(lambda n: f"tmpl-{n}")
    name = factory.Sequence(lambda n: f"500 yen off #{n}")
    kind = CouponTemplate.Kind.AMOUNT_OFF
    amount_off = 500
    valid_days = 30
    per_member_limit = 1
