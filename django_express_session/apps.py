from django.apps import AppConfig, apps
from django.core.signals import request_started, setting_changed
from django.dispatch import Signal


class ExpressSessionConfig(AppConfig):
    name = "django_express_session"
    verbose_name = "Express sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, setup_checks, switch_checks  # noqa: F401 (registers the system checks)

        setting_changed.connect(_settings_changed)
        from django.db.models.signals import post_migrate

        from .session_table import made_late

        # The database store's table for a project that took that store after 0001.
        post_migrate.connect(made_late, dispatch_uid="django_express_session.table")
        # The session policy is published by the processes that serve (see ``policy``).
        _listen_for_first_request()
        from django.contrib.auth.signals import user_logged_in

        from .identity import name_for_passport
        from .lifetime import restart_on_login

        # absoluteMaxAgeFrom "login": the absolute clock restarts at login().
        user_logged_in.connect(restart_on_login, dispatch_uid="django_express_session.lifetime")
        # passport: login() names the user for the Express app too.
        user_logged_in.connect(name_for_passport, dispatch_uid="django_express_session.identity")
        if apps.is_installed("django.contrib.auth"):  # a site may use sessions alone
            _connect_policies(user_logged_in)
        # Settings are not validated here, where a bad option would crash every command
        # (check, migrate, help): the system check E050 reports it, and the middleware
        # refuses to serve with it.


def _connect_policies(user_logged_in: Signal) -> None:
    """The session policies: a login is a proof of who the user is (``recent_auth``)
    and counts against ``maxSessionsPerUser`` (``limits``: after the receivers above,
    so the record it stores names the user for passport too); the user model's saves
    and deletes may end the user's sessions (``account_events``)."""
    from django.contrib.auth import get_user_model

    from . import account_events, limits, recent_auth, signals

    user_logged_in.connect(
        recent_auth.stamp_login, dispatch_uid="django_express_session.recent_auth"
    )
    user_logged_in.connect(limits.at_login, dispatch_uid="django_express_session.limits")
    signals.identity_bridged.connect(
        limits.mark_bridged, dispatch_uid="django_express_session.limits"
    )
    account_events.connect(get_user_model())


def _settings_changed(*, setting: str, **kwargs: object) -> None:
    names = {"EXPRESS_SESSION", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "CACHES", "DATABASES"}
    if setting in names or setting.startswith("SESSION_"):  # SESSION_*: django_settings
        from . import conf

        conf.reset()
        _listen_for_first_request()  # the new store is published to on its first request


#: Django's test client sends ``request_started`` too; it serves no one, and a test
#: run's settings must not replace what the serving processes published in a store
#: they share.
TEST_CLIENT_MODULE = "django.test.client"


POLICY_RECEIVER = "django_express_session.policy"


def _listen_for_first_request() -> None:
    request_started.connect(_publish_policy, dispatch_uid=POLICY_RECEIVER)


def _publish_policy(sender: type, **kwargs: object) -> None:
    if sender.__module__ == TEST_CLIENT_MODULE:
        return
    from . import conf, policy

    policy.publish_once(conf.get_options(), conf.get_store())
    # Once published, later requests need not ask (a receiver costs every request).
    request_started.disconnect(dispatch_uid=POLICY_RECEIVER)
