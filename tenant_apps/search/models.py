"""The organization's search vocabulary: every distinct (accent-folded, lower-case) word of the names and
companies of its records, kept by the database itself (triggers in migration 0001), so that a misspelled
word is corrected against a few thousand words instead of being compared with a million names."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F


class SearchWord(models.Model):
    word = models.TextField(primary_key=True)

    class Meta:
        indexes = [GinIndex(OpClass(F("word"), name="gin_trgm_ops"), name="search_word_trgm")]

    def __str__(self) -> str:
        return self.word
