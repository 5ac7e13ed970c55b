package sim

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// peerPID returns the PID of the process that connected, as the kernel
// recorded it at connect time.
func peerPID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	if cred.Pid <= 0 {
		return 0, errors.New("sim: no peer credentials")
	}
	return int(cred.Pid), nil
}
