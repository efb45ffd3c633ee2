"""The paths (per endpoint kind) and the token scope each platform serves.

Written out here rather than read from the app's settings, so a wrong profile
in ``timeback_progress.conf`` fails against the sandbox instead of agreeing
with it.
"""

TOKEN_PATH = "/oauth2/token"
CALIPER_PATH = "/ims/caliper/v1p2/events"
GRADEBOOK_PATH = "/ims/oneroster/gradebook/v1p2"
ROSTERING_PATH = "/ims/oneroster/rostering/v1p2"

PLATFORMS = {
    "timeback": {
        "token": TOKEN_PATH, "caliper": CALIPER_PATH, "gradebook": GRADEBOOK_PATH,
        "rostering": ROSTERING_PATH, "scope": None,
    },
    "learnwith.ai": {
        "token": "/auth/1.0/token", "caliper": "/caliper/v1p2", "gradebook": "/gradebook/1.0",
        "rostering": "/rostering/1.0", "scope": "https://purl.imsglobal.org/spec/caliper/v1p2/scope/events.write",
    },
}
