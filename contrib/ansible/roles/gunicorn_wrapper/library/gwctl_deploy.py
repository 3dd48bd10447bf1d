#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# gwctl_deploy: the gunicorn_wrapper role's module.  Why a module and not
# a `command: gwctl deploy` task: the task's message must be the wrapper's
# reason, `changed` must mean "a new generation serves", check mode must
# ask the wrapper what would change without touching it, and a release that
# already serves must be neither deployed again nor written over; written
# as when/changed_when expressions around `command`, every playbook would
# repeat them.

DOCUMENTATION = r"""
module: gwctl_deploy
short_description: Deploy a release directory with gunicorn-wrapper, and report the outcome
description:
  - Runs C(gwctl --json deploy NAME RELEASE) on the host and waits for the
    outcome: the wrapper starts a generation of RELEASE, and points its link
    at it only once that generation serves.  A release that fails leaves the
    old generation serving, and the link on its release.
  - Nothing is done when RELEASE already serves (C(changed=false)), unless
    I(force).
  - With I(inspect), only asks the wrapper (C(gwctl --json status)) which
    release serves, and whether it is RELEASE (C(serves)); the role does this
    before it writes any file, so that it never writes into the serving
    release, and fails early when the wrapper cannot be reached.
  - In check mode, reports whether a deploy would change the host; nothing
    is deployed.
  - Fails with the wrapper's reason as the message when the deploy failed,
    was refused, its outcome was lost, or the wrapper could not be reached.
options:
  name:
    description: The wrapper's name (its C(--name); the socket NAME.sock).
    required: true
    type: str
  release:
    description: The release directory, directly under the wrapper's
      C(--releases) directory (an absolute path).
    required: true
    type: str
  inspect:
    description: Only report what serves (see above); never changes anything.
    type: bool
    default: false
  force:
    description: Deploy even when the release already serves.
    type: bool
    default: false
  transferred:
    description: The release is transferred before the deploy (in check
      mode, it need not exist yet).
    type: bool
    default: false
  gwctl:
    description: The gwctl executable, a path or a name on PATH.
    type: str
    default: gwctl
  run_dir:
    description: The wrapper's run directory (GW_RUN_DIR); gwctl's default if unset.
    type: str
  timeout:
    description: Seconds to wait for the outcome (gwctl -t); 0 waits until it
      comes.  When it runs out the task fails, but the deploy carries on.
    type: float
    default: 0
"""

RETURN = r"""
result:
  description: gwctl's result object (gwctl(1), RESULT OBJECT) when a deploy
    was asked for; null when none was.
  type: dict
release:
  description: The release that serves now (a real path); null when nothing
    serves or it is not known.
  type: str
previous_release:
  description: The release that served before.
  type: str
serves:
  description: The release asked for is the one that serves (before any deploy).
  type: bool
rc:
  description: gwctl's exit status (gwctl(1), EXIT STATUS); for a failed
    status query, status's own (3 not serving, 4 unknown).
  type: int
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def gwctl(module, *args):
    """Run gwctl --json ARGS: (rc, parsed object or None, stderr)."""
    p = module.params
    argv = [p["gwctl_path"], "--json"]
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
            if isinstance(obj.get(k), str) and obj[k]:
                return obj[k]
    lines = [x for x in err.splitlines() if x.strip()]
    return lines[-1] if lines else fallback


def fail(module, msg, **kw):
    out = dict(rc=1, result=None, release=None, previous_release=None, serves=False)
    out.update(kw)
    module.fail_json(msg="{}: {}".format(module.params["name"], msg), **out)


def serving(module):
    """The wrapper's status: (releases directory, serving release, the
    release a deploy in flight is starting, or None)."""
    rc, st, err = gwctl(module, "status", module.params["name"])
    if st is None or st.get("ok") is not True:
        fail(module, why(st, err, "no status (exit status {})".format(rc)), rc=rc)
    if not st.get("releases"):
        fail(module, "the wrapper is not in release mode (start it with --releases DIR)")
    return os.path.realpath(st["releases"]), st.get("release"), st.get("new_release")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            release=dict(type="str", required=True),
            inspect=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            transferred=dict(type="bool", default=False),
            gwctl=dict(type="str", default="gwctl"),
            run_dir=dict(type="str"),
            timeout=dict(type="float", default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    if not name or "/" in name:
        module.fail_json(msg="name {!r}: not a wrapper's name".format(name))
    exe = p["gwctl"] if "/" in p["gwctl"] else module.get_bin_path(p["gwctl"])
    if not exe or not os.access(exe, os.X_OK):
        fail(module, "gwctl not found: {} (set gunicorn_wrapper_gwctl)".format(p["gwctl"]))
    p["gwctl_path"] = exe

    releases, current, incoming = serving(module)
    target = os.path.realpath(p["release"])
    if os.path.dirname(target) != releases:
        fail(module, "release {} is not a directory of the releases directory {}".format(
            target, releases), release=current, previous_release=current)
    if incoming == target:
        # Its new generation is loading from it: its files must not change
        # under it, and its outcome is that deploy's.
        fail(module, "release {} is being deployed on this host now: wait for that "
             "deploy's outcome (gwctl status {})".format(target, name),
             release=current, previous_release=current)
    serves = current == target
    same = dict(rc=0, result=None, release=current, previous_release=current, serves=serves)
    if p["inspect"]:
        module.exit_json(changed=False, msg="{}: {} serves".format(name, current), **same)
    if serves and not p["force"]:
        module.exit_json(changed=False, msg="{}: {} serves already".format(name, target),
                         **same)
    if module.check_mode:
        if not p["transferred"] and not os.path.isdir(target):
            fail(module, "release {}: no such directory".format(target), **same)
        module.exit_json(changed=True, msg="{}: would deploy {} (serving {})".format(
            name, target, current), **same)

    rc, res, err = gwctl(module, "deploy", name, target)
    kind = res.get("result") if res else None
    if kind is None:
        fail(module, "deploy: gwctl printed no result object (a gwctl older than the "
             "role? exit status {}): {}".format(rc, why(None, err, "no output")),
             rc=rc, previous_release=current, stderr=err)
    now = res.get("release")
    if kind in ("refused", "error"):
        now = current   # nothing was started: what served serves
    if rc == 0 and kind == "ok":
        module.exit_json(changed=True, msg="{}: deploy {} ok: {} serves, master {} -> {} in "
                         "{:.1f} s".format(name, res.get("id"), now, res.get("old_master"),
                                           res.get("new_master"), res.get("duration") or 0),
                         rc=rc, result=res, release=now, previous_release=current,
                         serves=serves)
    msg = "deploy {}: {}".format(kind, why(res, err, "exit status {}".format(rc)))
    if kind == "unknown":
        msg += " (the deploy may still complete: gwctl status {})".format(name)
    fail(module, msg, rc=rc, result=res, release=now, previous_release=current,
         serves=serves, stderr=err)


if __name__ == "__main__":
    main()
