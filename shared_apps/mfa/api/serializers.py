from rest_framework import serializers


class CodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, help_text="The 6 digits the authenticator app shows now.")


class DisableSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=200, trim_whitespace=False)
    code = serializers.CharField(max_length=32, help_text="The authenticator's code, or a recovery code.")


class StatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    recovery_codes_left = serializers.IntegerField()
    enforced = serializers.BooleanField(
        help_text="Whether two-factor sign-in is required here (the organization's rule; for operators the "
        "platform's setting): it cannot be turned off then."
    )


class EnrolmentSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32, for typing into the app; not shown after confirmation.")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="The otpauth URI as an inline SVG QR code.")


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField(), help_text="Shown this once.")


class RequirementSerializer(serializers.Serializer):
    require_two_factor = serializers.BooleanField()
