//go:build linux && amd64

package sgx

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"unsafe"
)

// EGo's runtime system calls (its enclave package's numbers): the
// runtime allocates what it returns, and the caller frees it.
const (
	egoSysGetRemoteReport    = 1000
	egoSysFreeReport         = 1001
	egoSysFreeSealKey        = 1004
	egoSysGetSealKeyByPolicy = 1005
)

type egoSyscalls struct{}

func egoError(errno syscall.Errno, res uintptr) error {
	switch {
	case errors.Is(errno, syscall.ENOSYS):
		return ErrNotEGo
	case errno != 0:
		return fmt.Errorf("sgx: EGo's runtime: %w", errno)
	case res != 0:
		// An oe_result_t; OE's headers name them (OE_UNSUPPORTED, …).
		return fmt.Errorf("sgx: EGo's runtime: Open Enclave result %#x", res)
	}
	return nil
}

func (egoSyscalls) remoteReport(reportData []byte) ([]byte, error) {
	var report *byte
	var size uint64
	res, _, errno := syscall.Syscall6(egoSysGetRemoteReport,
		uintptr(unsafe.Pointer(&reportData[0])), uintptr(len(reportData)), 0, 0,
		uintptr(unsafe.Pointer(&report)), uintptr(unsafe.Pointer(&size)))
	if err := egoError(errno, res); err != nil {
		return nil, err
	}
	if report == nil || size > 1<<20 {
		return nil, fmt.Errorf("sgx: EGo's runtime returned a report of %d bytes", size)
	}
	out := bytes.Clone(unsafe.Slice(report, size))
	syscall.Syscall(egoSysFreeReport, uintptr(unsafe.Pointer(report)), 0, 0)
	return out, nil
}

func (egoSyscalls) sealKey(policy uintptr) ([]byte, error) {
	var key, info *byte
	var keySize, infoSize uint64
	res, _, errno := syscall.Syscall6(egoSysGetSealKeyByPolicy, policy,
		uintptr(unsafe.Pointer(&key)), uintptr(unsafe.Pointer(&keySize)),
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&infoSize)), 0)
	if err := egoError(errno, res); err != nil {
		return nil, err
	}
	if key == nil || keySize > 64 {
		return nil, fmt.Errorf("sgx: EGo's runtime returned a seal key of %d bytes", keySize)
	}
	k := bytes.Clone(unsafe.Slice(key, keySize))
	// Freeing zeroes the runtime's copy of the key.
	syscall.Syscall(egoSysFreeSealKey, uintptr(unsafe.Pointer(key)), uintptr(unsafe.Pointer(info)), 0)
	return k, nil
}
