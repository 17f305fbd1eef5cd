"""Request dependencies, each declared once as an ``Annotated`` alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.core.config import Settings
from api.services import Services
from storage.session import S3SQLiteSession


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services.get()
    return services


def get_session(services: Annotated[Services, Depends(get_services)]) -> S3SQLiteSession:
    return services.session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[S3SQLiteSession, Depends(get_session)]
