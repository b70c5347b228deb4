"""docker-compose.yml and Dockerfile: no Docker engine runs here, so check what can be
checked: every start command of the stack parses with the real binaries' flags, and every
HOOKBRIDGE_* variable the stack sets is one the binaries read."""

import json
import os
import re
import subprocess

from harness import REPO, bin_dir, check, meta


def _compose():
    with open(os.path.join(REPO, "docker-compose.yml")) as f:
        return f.read()


@meta(est=1)
def test_compose_commands_match_binary_flags(env):
    text = _compose()
    commands = [json.loads(m) for m in re.findall(r"^\s*command:\s*(\[.*\])\s*$", text, re.M)]
    ours = [c for c in commands if c[0].startswith("hookbridge-")]
    check({c[0] for c in ours} == {"hookbridge-ingress", "hookbridge-worker"},
          "compose should start both binaries: %r" % ours)
    with open(os.path.join(REPO, "Dockerfile")) as f:
        cmd = re.search(r"^CMD\s+(\[.*\])", f.read(), re.M)
    check(cmd and json.loads(cmd.group(1))[0] == "hookbridge-ingress", "Dockerfile CMD")
    for c in ours:
        # Flags are parsed in order and --version stops after them: an unknown flag or a bad
        # value fails before it.
        e = dict(os.environ, HOOKBRIDGE_SECRET_KEY=env.secret_key)
        out = subprocess.run([os.path.join(bin_dir(), c[0])] + c[1:] + ["--version"], env=e,
                             capture_output=True, text=True, timeout=20)
        check(out.returncode == 0, "%r does not parse: %s" % (c, out.stderr.strip()))


@meta(est=1)
def test_compose_environment_names_are_read(env):
    text = _compose()
    with open(os.path.join(REPO, ".env.example")) as f:
        text += f.read()
    names = set(re.findall(r"\b(HOOKBRIDGE_[A-Z_]+)\b", text))
    check(names, "no HOOKBRIDGE_ variables found")
    helptext = ""
    for b in ("hookbridge-ingress", "hookbridge-worker"):
        helptext += subprocess.run([os.path.join(bin_dir(), b), "--help"], capture_output=True,
                                   text=True, timeout=20).stdout
    unknown = [n for n in sorted(names) if n not in helptext]
    check(not unknown, "variables the binaries do not read: %r" % unknown)
