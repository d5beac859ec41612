"""Screenings kept under watch until their order ships, and every version a screening has had."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Date, DateTime, Text
from sqlmodel import Field, SQLModel


class ScreeningVersion(SQLModel, table=True):
    """One stored answer for a screening: version 1 is the screening as created; each later version
    is a re-screening that changed an outcome and supersedes the one before."""

    __tablename__ = "screening_version"
    decision_id: str = Field(primary_key=True, max_length=26)
    screening_id: str = Field(max_length=26, index=True)
    version: int
    reference: str | None = Field(default=None, max_length=200, index=True)
    api_key_id: str | None = Field(default=None, max_length=40)
    outcome: str = Field(max_length=20)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ScreeningMonitor(SQLModel, table=True):
    """An open order's screening, re-screened after every rule change until it is closed or its
    ``open_until`` date passes. ``checked_revision``/``checked_on`` say which reference revision and
    which day it was last screened for: a replica claims a re-screening by moving them forward
    with a compare-and-set, so each change re-screens each open screening exactly once."""

    __tablename__ = "screening_monitor"
    screening_id: str = Field(primary_key=True, max_length=26)
    api_key_id: str | None = Field(default=None, max_length=40)
    reference: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=10, index=True)
    open_until: date = Field(sa_column=Column(Date, nullable=False))
    version: int
    latest_decision_id: str = Field(max_length=26)
    outcomes: str = Field(sa_column=Column(Text, nullable=False))
    checked_revision: int = Field(sa_column=Column(BigInteger, nullable=False))
    checked_on: date = Field(sa_column=Column(Date, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    close_reason: str | None = Field(default=None, max_length=500)
