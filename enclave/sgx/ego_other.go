//go:build !(linux && amd64)

package sgx

// EGo runs on Linux on x86-64 only.
type egoSyscalls struct{}

func (egoSyscalls) remoteReport([]byte) ([]byte, error) { return nil, ErrNotEGo }
func (egoSyscalls) sealKey(uintptr) ([]byte, error)     { return nil, ErrNotEGo }
