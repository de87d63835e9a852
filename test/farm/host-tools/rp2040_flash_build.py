"""The compiler and linker of the simulated lib/rp2040_flash build: they need exactly what gcc
needs for Klipper's real sources, libusb.h on the include path (`pkg-config libusb-1.0 --cflags`)
and libusb-1.0 on the link line (`--libs`), and fail with gcc's messages otherwise. The linked
program is the simulated rp2040_flash tool."""
import os
import sys

SYSTEM_INCLUDE = ["/usr/local/include", "/usr/include"]
TOOL = "/run/lockstep-sim/tools/rp2040_flash.py"


def option_values(args, flag):
    return [a[len(flag):] for a in args if a.startswith(flag) and len(a) > len(flag)]


def compile_source(args):
    source = next(a for a in args if a.endswith(".c"))
    out = args[args.index("-o") + 1]
    dirs = option_values(args, "-I") + SYSTEM_INCLUDE
    if not any(os.path.isfile(os.path.join(d, "libusb.h")) for d in dirs):
        sys.stderr.write("In file included from %s:%d:\n" % (source, 12 if source == "main.c" else 7))
        sys.stderr.write("picoboot_connection.h:14:10: fatal error: libusb.h: No such file or directory\n")
        sys.stderr.write("   14 | #include <libusb.h>\n      |          ^~~~~~~~~~\n")
        sys.stderr.write("compilation terminated.\n")
        return 1
    with open(out, "w") as f:
        f.write("simulated object of %s\n" % source)
    return 0


def link(args):
    out = args[args.index("-o") + 1]
    if "-lusb-1.0" not in args:
        sys.stderr.write("/usr/bin/ld: main.o: in function `main':\n")
        sys.stderr.write("main.c:(.text+0x2c4): undefined reference to `libusb_init'\n")
        sys.stderr.write("collect2: error: ld returned 1 exit status\n")
        return 1
    with open(out, "w") as f:
        f.write("#!/usr/bin/python3\n# rp2040_flash, as the printer-farm simulator links it.\n")
        f.write("import runpy, sys\nsys.argv[0] = __file__\nrunpy.run_path(%r, run_name=\"__main__\")\n" % TOOL)
    os.chmod(out, 0o755)
    return 0


if __name__ == "__main__":
    action, rest = sys.argv[1], sys.argv[2:]
    sys.exit(compile_source(rest) if action == "compile" else link(rest))
