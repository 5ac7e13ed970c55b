package spec_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/confide/confide/enclave/ecall"
	"github.com/confide/confide/enclave/sim"
)

// The test binary doubles as the enclave processes some tests launch: with
// SPEC_CHILD set it plays that part and exits.
func TestMain(m *testing.M) {
	if role := os.Getenv("SPEC_CHILD"); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// vectorTable is the ECALL table ecall-frames.json assumes.
var vectorTable = ecall.Table{
	func(_ context.Context, in []byte) ([]byte, error) { return in, nil },
	func(_ context.Context, in []byte) ([]byte, error) { return nil, errors.New(string(in)) },
	nil,
}

func child(role string) error {
	switch role {
	case "ecall-serve":
		return ecall.ServeInherited(context.Background(), vectorTable)
	case "ecall-reply":
		// Read one call frame, answer with the given bytes verbatim.
		fd, err := strconv.Atoi(os.Getenv(ecall.EnvFD))
		if err != nil {
			return err
		}
		ch := os.NewFile(uintptr(fd), "ecall")
		if _, err := io.WriteString(ch, "CFEC\x01"); err != nil { // the hello (ecall.md)
			return err
		}
		var hdr [8]byte
		if _, err := io.ReadFull(ch, hdr[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, ch, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return err
		}
		reply, err := hex.DecodeString(os.Getenv("SPEC_ECALL_REPLY"))
		if err != nil {
			return err
		}
		_, err = ch.Write(reply)
		return err
	case "identity":
		c, err := sim.Dial(context.Background(), os.Getenv("SPEC_SIM_DIR"), nil)
		if err != nil {
			return err
		}
		defer c.Close()
		id, err := c.Identity(context.Background())
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(toIdentityHex(id))
	}
	return fmt.Errorf("unknown child role %q", role)
}

// selfCommand returns a command that runs this test binary as a child.
func selfCommand(role string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "SPEC_CHILD="+role), env...)
	return cmd
}
