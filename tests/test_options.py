"""``EXPRESS_SESSION`` is validated once; a bad value names the key and what is allowed."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_express_session import conf
from django_express_session.checks import check_deploy, check_express_defaults, check_wiring


def _parse(**options):
    return conf.parse({"secret": "s", **options})


@pytest.mark.parametrize(
    "options,message",
    [
        ({"unset": "forget"}, '[\'unset\'] must be "keep" or "destroy"'),
        ({"secret": []}, "['secret'] must contain one or more strings"),
        ({"secret": [""]}, "['secret'] must be non-empty strings"),
        ({"genid": 42}, "['genid'] must be a callable"),
        ({"genid": "no.such.module.genid"}, "['genid'] cannot be imported"),
        ({"cookie": {"sameSite": "sometimes"}}, "['cookie']['sameSite'] must be"),
        ({"cookie": {"priority": "urgent"}}, "['cookie']['priority'] must be"),
        ({"cookie": {"maxAge": "1d"}}, "['cookie']['maxAge'] must be milliseconds"),
        ({"cookie": {"maxAge": True}}, "['cookie']['maxAge'] must be milliseconds"),
        ({"cookie": {"expires": 1}}, "['cookie']['expires'] is not a cookie option"),
        ({"cookie": {"path": "foo"}}, "['cookie']['path'] must start with '/'"),
        ({"resave": "yes"}, "['resave'] must be True or False"),
        ({"proxy": "trust"}, "['proxy'] must be None, True or False"),
        ({"store": {"backend": "cassandra"}}, "'cassandra' is not a store"),
        ({"store": {"backend": "file", "opts": {}}}, "has unknown keys ['opts']"),
        ({"storeUnavailable": "ignore"}, '[\'storeUnavailable\'] must be "error" or "continue"'),
        ({"saveUninitialised": False}, "['saveUninitialised'] is not an option"),
        ({"name": "my cookie"}, "['name'] must be a cookie name"),
    ],
)
def test_bad_options_name_the_key(options, message):
    with pytest.raises(ImproperlyConfigured) as error:
        _parse(**options)
    assert message in str(error.value)


def test_unknown_store_option_names_the_key_and_the_valid_ones():
    with pytest.raises(ImproperlyConfigured) as error:
        conf.build_store(conf.StoreConfig(conf.STORE_BACKENDS["file"], {"reapIntervall": 10}))
    assert "['reapIntervall'] is not an option of the file store" in str(error.value)
    assert "reapInterval" in str(error.value)


def test_bad_store_option_value_names_the_key():
    with pytest.raises(
        ImproperlyConfigured, match=r"\['max'\] \(memory store\) must be at least 1"
    ):
        conf.build_store(conf.StoreConfig(conf.STORE_BACKENDS["memory"], {"max": 0}))


def test_a_dotted_path_must_name_a_store_subclass():
    with pytest.raises(ImproperlyConfigured, match="is not a Store subclass"):
        conf.build_store(conf.StoreConfig("django_express_session.cookie.Cookie", {}))


def test_express_defaults_and_names():
    options = conf.parse({"secret": ["a", "b"], "key": "legacy.sid"})
    assert options.resave and options.save_uninitialized and not options.rolling
    assert options.name == "legacy.sid" and options.secrets == ("a", "b")
    assert options.store.backend.endswith("MemoryStore")


def test_genid_may_be_a_dotted_path():
    assert _parse(genid="django_express_session.ids.generate_sid").genid(None)


def test_settings_changes_are_picked_up(settings):
    settings.EXPRESS_SESSION = {"secret": "one", "name": "first"}
    assert conf.get_options().name == "first"
    settings.EXPRESS_SESSION = {"secret": "one", "name": "second"}
    assert conf.get_options().name == "second"


def test_express_warns_when_resave_and_save_uninitialized_are_left_to_defaults(settings):
    settings.EXPRESS_SESSION = {"secret": "s"}
    assert [w.id for w in check_express_defaults()] == [
        "django_express_session.W001",
        "django_express_session.W002",
    ]
    settings.EXPRESS_SESSION = {"secret": "s", "resave": False, "saveUninitialized": False}
    assert check_express_defaults() == []


def test_wiring_errors(settings):
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django_express_session.middleware.SessionMiddleware",
    ]
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    assert [e.id for e in check_wiring()] == [
        "django_express_session.E001",
        "django_express_session.E003",
    ]


def test_deploy_checks(settings):
    settings.EXPRESS_SESSION = {"secret": "s", "cookie": {"httpOnly": False}}
    assert [w.id for w in check_deploy()] == [
        "django_express_session.W010",
        "django_express_session.W011",
        "django_express_session.W013",
        "django_express_session.W014",
        "django_express_session.W012",
    ]
    settings.EXPRESS_SESSION = {
        "secret": "s" * 32,
        "cookie": {"secure": "auto", "sameSite": "lax"},
        "proxy": True,
        "store": {"backend": "file", "options": {"path": "/tmp/x"}},
    }
    assert check_deploy() == []


def test_check_command_reports_a_wrong_engine(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    with pytest.raises(SystemCheckError, match="E003"):
        call_command("check")
