import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
django_application = get_asgi_application()

from django_express_session.channels import AuthMiddlewareStack  # noqa: E402 (after setup)
from testproject.sockets import whoami_socket  # noqa: E402

#: WebSockets get the express session and its user (scope["session"], scope["user"]).
socket_application = AuthMiddlewareStack(whoami_socket)


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        await socket_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
