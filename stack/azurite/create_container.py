"""Creates a blob container on an Azure Storage endpoint (Azurite in the tests).

object_store writes blobs but never creates containers, and the emulator
refuses anonymous requests, so this signs one `Create Container` request with
the account's shared key (standard library only).

    create_container.py <endpoint> <account> <base64 key> <container>

Exits 0 when the container exists afterwards (created now, or already there).
"""

import base64
import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from email.utils import formatdate

VERSION = "2021-08-06"


def main() -> int:
    endpoint, account, key, container = sys.argv[1:5]
    date = formatdate(usegmt=True)
    # Emulator URLs are path-style, so the account appears twice in the
    # canonical resource. The eleven empty lines are the standard headers
    # this request does not send (Content-Length is empty when zero).
    canonical = (
        "PUT\n" + "\n" * 11
        + f"x-ms-date:{date}\nx-ms-version:{VERSION}\n"
        + f"/{account}/{account}/{container}\nrestype:container"
    )
    digest = hmac.new(base64.b64decode(key), canonical.encode(), hashlib.sha256).digest()
    request = urllib.request.Request(
        f"{endpoint}/{account}/{container}?restype=container",
        method="PUT",
        headers={
            "x-ms-date": date,
            "x-ms-version": VERSION,
            "Content-Length": "0",
            "Authorization": f"SharedKey {account}:{base64.b64encode(digest).decode()}",
        },
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code != 409:  # 409: it exists already
            print(f"create container {container}: HTTP {e.code}: {e.read()[:300]!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
