"""sshd ForceCommand of the simulated host: records every command the host receives in its
audit log, applies the "SSH connection dropped" fault, then runs the command with bash as sshd
would."""
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402

command = os.environ.get("SSH_ORIGINAL_COMMAND")
if command is not None and (command == "internal-sftp" or command.endswith("/sftp-server")):
    os.execv("/usr/lib/openssh/sftp-server", ["sftp-server"])

try:
    session = simhost.request("session-start", command=command or "", pid=os.getpid())
except (OSError, simhost.HostdError, ValueError):
    session = {}

if command is None:
    os.execv("/bin/bash", ["-bash", "-l"])

child = subprocess.Popen(["/bin/bash", "-c", command])

drop_after = session.get("dropAfterMs")
if drop_after is not None:
    def drop():
        # Killing the user-side sshd process closes the TCP connection; the command itself
        # keeps running, as it does when a real network link fails.
        os.kill(os.getppid(), signal.SIGKILL)
    timer = threading.Timer(drop_after / 1000.0, drop)
    timer.daemon = True
    timer.start()

code = child.wait()
if code < 0:
    code = 128 - code
try:
    simhost.request("session-end", id=session.get("id"), exitCode=code)
except (OSError, simhost.HostdError, ValueError):
    pass
sys.exit(code)
