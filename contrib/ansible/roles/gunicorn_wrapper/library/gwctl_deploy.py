#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gwctl_deploy: the gunicorn_wrapper role's module.  Why a module and not
# a `command: gwctl deploy` task: the task's message must be the wrapper's
# reason, `changed` must mean "a new generation serves", check mode must
# ask the wrapper what would change without touching it, and a release that
# already serves must not be deployed again; written as when/changed_when
# expressions around `command`, every playbook would repeat them.

DOCUMENTATION = r"""
module: gwctl_deploy
short_description: Deploy a release directory with gunicorn-wrapper, and report the outcome
description:
  - Runs C(gwctl --json deploy NAME RELEASE) on the host and waits for the
    outcome: the wrapper starts a generation of RELEASE, and points its link
    at it only once that generation serves.  A release that fails leaves the
    old generation serving, and the link on its release.
  - Nothing is done when RELEASE already serves and its files did not change
    (C(changed=false)).
  - In check mode, asks the wrapper (C(gwctl --json status)) which release
    serves, and reports whether a deploy would change it; nothing is deployed.
  - Fails with the wrapper's reason as the message when the deploy failed,
    was refused, or the wrapper could not be reached.
options:
  name:
    description: The wrapper's name (its C(--name); the socket NAME.sock).
    required: true
    type: str
  release:
    description: The release directory, under the wrapper's C(--releases) directory.
    required: true
    type: path
  files_changed:
    description: The release's files changed (the copy before changed them),
      so deploy it even when it already serves.
    type: bool
    default: false
  force:
    description: Deploy even when the release already serves.
    type: bool
    default: false
  gwctl:
    description: The gwctl executable.
    type: path
    default: gwctl
  run_dir:
    description: The wrapper's run directory (GW_RUN_DIR); gwctl's default if unset.
    type: path
  timeout:
    description: Seconds to wait for the outcome (gwctl -t); 0 waits until it comes.
    type: float
    default: 0
"""

RETURN = r"""
result:
  description: gwctl's result object (gwctl(1), RESULT OBJECT), when a deploy ran
    or was asked for; null when none was.
  type: dict
release:
  description: The release that serves now (a real path).
  type: str
previous_release:
  description: The release that served before.
  type: str
rc:
  description: gwctl's exit status (0 ok, 1 failed or refused, 3 unreachable, 6 down).
  type: int
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def gwctl(module, *args):
    """Run gwctl --json ARGS: (rc, parsed object or None, stderr)."""
    p = module.params
    argv = [p["gwctl"], "--json"]
    if p["timeout"]:
        argv += ["-t", "{:g}".format(p["timeout"])]
    env = {"GW_RUN_DIR": p["run_dir"]} if p["run_dir"] else {}
    rc, out, err = module.run_command(argv + list(args), environ_update=env)
    try:
        obj = json.loads(out)
    except ValueError:
        obj = None
    return rc, obj if isinstance(obj, dict) else None, err.strip()


def why(obj, err, fallback):
    """One line: the result's reason, the reply's error, or gwctl's stderr."""
    if obj:
        for k in ("reason", "error"):
            if obj.get(k):
                return obj[k]
    lines = [x for x in err.splitlines() if x.strip()]
    return lines[-1] if lines else fallback


def serving(module):
    """The wrapper's status: (releases directory, serving release)."""
    name = module.params["name"]
    rc, st, err = gwctl(module, "status", name)
    if st is None or st.get("ok") is not True:
        module.fail_json(msg="{}: {}".format(name, why(st, err, "no status")), rc=rc,
                         result=None, release=None, previous_release=None)
    if not st.get("releases"):
        module.fail_json(msg="{}: the wrapper is not in release mode (start it with "
                         "--releases DIR)".format(name), rc=1, result=None,
                         release=None, previous_release=None)
    return os.path.realpath(st["releases"]), st.get("release")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            release=dict(type="path", required=True),
            files_changed=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            gwctl=dict(type="path", default="gwctl"),
            run_dir=dict(type="path"),
            timeout=dict(type="float", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    if "/" in name or not name:
        module.fail_json(msg="name {!r}: not a wrapper's name".format(name))
    releases, current = serving(module)
    target = os.path.realpath(p["release"])
    if not target.startswith(releases + os.sep):
        module.fail_json(msg="{}: release {} is not under the releases directory {}".format(
            name, target, releases), rc=1, result=None, release=current,
            previous_release=current)
    if current == target and not (p["force"] or p["files_changed"]):
        module.exit_json(changed=False, msg="{}: {} serves already".format(name, target),
                         rc=0, result=None, release=current, previous_release=current)
    if module.check_mode:
        module.exit_json(changed=True, msg="{}: would deploy {} (serving {})".format(
            name, target, current), rc=0, result=None, release=current,
            previous_release=current)

    rc, res, err = gwctl(module, "deploy", name, target)
    now = res.get("release") if res else None
    if rc == 0 and res is not None and res.get("result") == "ok":
        module.exit_json(changed=True, msg="{}: deploy {} ok: {} serves, master {} -> {} in "
                         "{:.1f} s".format(name, res.get("id"), now, res.get("old_master"),
                                           res.get("new_master"), res.get("duration") or 0),
                         rc=rc, result=res, release=now, previous_release=current)
    what = res.get("result") if res else "error"
    module.fail_json(msg="{}: deploy {}: {}".format(name, what, why(res, err, "exit status "
                                                                    "{}".format(rc))),
                     rc=rc, result=res, release=now, previous_release=current,
                     stderr=err)


if __name__ == "__main__":
    main()
