"""Why an RTSP camera will not stream, asked of the camera itself.

OpenCV only says that it could not open a URL. :func:`rtsp_describe_status`
sends one ``DESCRIBE`` (RFC 2326 §10.2), answers a Basic or Digest password
challenge (RFC 2617; RFC 2326 §D.2) with the URL's credentials, and reports
the camera's answer, so the technician learns whether the password, the path
or the network is wrong. The result never contains the password.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["rtsp_describe_status"]


_STATUS_HINTS = {
    401: "用户名或密码错误 / wrong user name or password",
    403: "无权访问 / access forbidden",
    404: "无此视频流路径 / no such stream path",
}


def rtsp_describe_status(url: str, *, timeout: float) -> str:
    """Ask an RTSP camera why it will not stream: send ``DESCRIBE`` and report the answer.

    OpenCV only says that it could not open a URL; this tells the
    technician whether the password, the path or the network is wrong. It
    answers one Basic or Digest challenge (RFC 2617, RFC 2326 §D.2) with the
    URL's credentials. The result never contains the password.

    Returns:
        For example ``"RTSP 401 Unauthorized (用户名或密码错误 / wrong user name
        or password)"``, ``"connection refused"`` or ``"no answer within 2 s"``;
        empty for an ``rtsps://`` URL.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "rtsp" or not parts.hostname:
        return ""  # rtsps would need TLS; not worth it for a diagnosis
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    plain = urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))
    try:
        with socket.create_connection((parts.hostname, parts.port or 554), timeout) as sock:
            status, challenges = _describe(sock, plain, 1, None)
            if status[0] == 401 and parts.username is not None and challenges:
                answer = _authorization(
                    challenges, unquote(parts.username), unquote(parts.password or ""), plain
                )
                status, _ = _describe(sock, plain, 2, answer)
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc.strerror if isinstance(exc, OSError) else exc}"
    code, reason = status
    if 200 <= code < 300:
        return f"the camera answers (RTSP {code} {reason}) but its stream cannot be decoded"
    hint = _STATUS_HINTS.get(code)
    return f"RTSP {code} {reason}" + (f" ({hint})" if hint else "")


def _describe(
    sock: socket.socket, url: str, cseq: int, authorization: str | None
) -> tuple[tuple[int, str], list[str]]:
    """One DESCRIBE exchange: the status and any ``WWW-Authenticate`` challenges.

    Raises:
        ValueError: the answer is not an RTSP response.
        OSError: the connection failed or timed out.
    """
    lines = [f"DESCRIBE {url} RTSP/1.0", f"CSeq: {cseq}", "Accept: application/sdp"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 16384:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return _parse_response(data)


def _parse_response(data: bytes) -> tuple[tuple[int, str], list[str]]:
    """Status code, reason and ``WWW-Authenticate`` values of an RTSP response head.

    Raises:
        ValueError: the data does not start with an RTSP status line (RFC 2326 §7.1).
    """
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    match = re.fullmatch(r"RTSP/1\.\d (\d{3}) ?(.*)", head[0])
    if match is None:
        raise ValueError("the server does not answer in RTSP")
    challenges = [
        line.split(":", 1)[1].strip() for line in head[1:]
        if line.lower().startswith("www-authenticate:")
    ]  # fmt: skip
    return (int(match[1]), match[2]), challenges


def _authorization(
    challenges: list[str],
    user: str,
    password: str,
    uri: str,
    *,
    method: str = "DESCRIBE",
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` header answering a Digest challenge, else Basic (RFC 2617)."""
    for challenge in challenges:
        if challenge.lower().startswith("digest"):
            found = re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', challenge)
            p = {key.lower(): quoted or bare for key, quoted, bare in found}
            realm, nonce = p.get("realm", ""), p.get("nonce", "")
            ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
            fields = f'username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
            if "auth" in p.get("qop", "").split(","):
                cnonce = cnonce or secrets.token_hex(8)
                response = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
                fields += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
            else:
                response = _md5(f"{ha1}:{nonce}:{ha2}")
            return f'Digest {fields}, response="{response}"'
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()  # RFC 2617 says MD5
