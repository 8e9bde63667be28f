from django.urls import path, re_path

from . import views

urlpatterns = [
    path(name, getattr(views, view), name=name)
    for name, view in {
        "noop": "noop",
        "set": "set_value",
        "read": "read",
        "save": "save",
        "regenerate": "regenerate",
        "regenerate-save": "regenerate_and_save",
        "destroy": "destroy",
        "unset": "unset",
        "delete": "delete_attribute",
        "max-age": "set_max_age",
        "reload": "reload",
        "error": "server_error",
        "login": "login_user",
        "logout": "logout_user",
        "whoami": "whoami",
        "message": "add_message",
        "messages": "show_messages",
        "async-set": "async_set",
        "async-regenerate": "async_regenerate",
        "async-read": "async_read",
    }.items()
] + [re_path(r"^foo/", views.noop), path("foobar", views.noop)]
