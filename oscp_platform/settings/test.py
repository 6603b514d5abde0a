"""Test run: the database and broker come from DATABASE_URL / CELERY_BROKER_URL (CI sets
PostgreSQL and Redis); fast password hashing."""

from .base import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", CLIENT_SECRET_HASHER_PATH]  # noqa: F405
