"""Runs a command on a pseudo-terminal, types bytes once a prompt shows, prints the screen.

Usage: pty-run.py PROMPT HEX_INPUT TIMEOUT_SECONDS -- COMMAND...
Waits (bounded) until PROMPT appears in the terminal output, writes the bytes of HEX_INPUT as if
typed, then reads until the command exits. Prints everything the terminal showed to stdout and
exits with the command's exit code (124 when PROMPT never appeared). Python's pty module: no npm
package with a native build is needed for the one test that needs a terminal.
"""
import os, pty, select, sys, time

prompt, typed, timeout = sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), float(sys.argv[3])
command = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
seen, sent, deadline = b"", False, time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        os.kill(pid, 9)
        break
    ready, _, _ = select.select([fd], [], [], left)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if not sent and prompt in seen:
        os.write(fd, typed)
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(124 if not sent else os.waitstatus_to_exitcode(status))
