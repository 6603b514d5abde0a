"""How OAuth client secrets we issue are hashed (django-oauth-toolkit's CLIENT_SECRET_HASHER)."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class ClientSecretHasher(PBKDF2PasswordHasher):
    """PBKDF2 with few iterations, for generated client secrets only (never user passwords).

    A secret is 128 random characters: its entropy, not a work factor, makes guessing hopeless.
    With Django's password work factor every token request (and every wrong guess) would cost
    about half a CPU-second; this costs under a millisecond."""

    algorithm = "pbkdf2_sha256_client_secret"
    iterations = 1000
