package dcap

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// OIDSGXExtensions is the PCK certificate extension that carries the
// platform's SGX identity and TCB (Intel's "SGX PCK Certificate and CRL
// Profile"); its members are arcs below it.
var OIDSGXExtensions = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}

// PCKExtensions is what a PCK certificate says about its platform.
type PCKExtensions struct {
	PPID    [16]byte // the platform's provisioning ID (encrypted by Intel's key)
	CompSVN [16]byte // the SGX TCB components' SVNs, 1 to 16
	PCESVN  uint16
	CPUSVN  [16]byte
	PCEID   [2]byte
	FMSPC   [6]byte // the platform model and its firmware family
	SGXType int     // 0 standard, 1 scalable, 2 scalable with integrity
	// PlatformInstanceID and Config appear in certificates issued by the
	// PCK Platform CA (multi-package platforms), not the Processor CA.
	PlatformInstanceID []byte
	Config             *PlatformConfig
}

// PlatformConfig is the Configuration member of the extensions.
type PlatformConfig struct {
	DynamicPlatform, CachedKeys, SMTEnabled *bool
}

type extMember struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

// ParsePCKExtensions returns a PCK certificate's SGX extensions.
func ParsePCKExtensions(cert *x509.Certificate) (*PCKExtensions, error) {
	var found *PCKExtensions
	for _, e := range cert.Extensions {
		if !e.Id.Equal(OIDSGXExtensions) {
			continue
		}
		if found != nil {
			return nil, errors.New("dcap: PCK certificate: two SGX extensions")
		}
		x, err := ParseSGXExtension(e.Value)
		if err != nil {
			return nil, err
		}
		found = x
	}
	if found == nil {
		return nil, errors.New("dcap: PCK certificate has no SGX extensions")
	}
	return found, nil
}

// ParseSGXExtension reads the SGX extensions' value: a sequence of
// (OID, value) pairs, each member exactly once (the last two optional),
// nothing unknown, and no bytes after the DER.
func ParseSGXExtension(der []byte) (*PCKExtensions, error) {
	x, err := parseSGXExtension(der)
	if err != nil {
		return nil, fmt.Errorf("dcap: PCK certificate SGX extensions: %w", err)
	}
	return x, nil
}

func parseSGXExtension(der []byte) (*PCKExtensions, error) {
	var members []extMember
	if err := unmarshalAll(der, &members); err != nil {
		return nil, err
	}
	x := &PCKExtensions{SGXType: -1}
	seen := map[int]bool{}
	for _, m := range members {
		arc, ok := childArc(m.ID, OIDSGXExtensions)
		if !ok {
			return nil, fmt.Errorf("unknown member %v", m.ID)
		}
		if seen[arc] {
			return nil, fmt.Errorf("member %v twice", m.ID)
		}
		seen[arc] = true
		var err error
		switch arc {
		case 1:
			err = octets(m.Value, x.PPID[:], "PPID")
		case 2:
			err = x.parseTCB(m.Value)
		case 3:
			err = octets(m.Value, x.PCEID[:], "PCE ID")
		case 4:
			err = octets(m.Value, x.FMSPC[:], "FMSPC")
		case 5:
			var e asn1.Enumerated
			err = unmarshalAll(m.Value.FullBytes, &e)
			if err == nil && (e < 0 || e > 2) {
				err = fmt.Errorf("SGX type %d", e)
			}
			x.SGXType = int(e)
		case 6:
			x.PlatformInstanceID = make([]byte, 16)
			err = octets(m.Value, x.PlatformInstanceID, "platform instance ID")
		case 7:
			x.Config, err = parseConfig(m.Value)
		default:
			err = fmt.Errorf("unknown member %v", m.ID)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, arc := range []int{1, 2, 3, 4, 5} {
		if !seen[arc] {
			return nil, fmt.Errorf("member %v missing", append(append(asn1.ObjectIdentifier{}, OIDSGXExtensions...), arc))
		}
	}
	return x, nil
}

// parseTCB reads the TCB member: components 1–16, PCESVN (17), CPUSVN (18).
func (x *PCKExtensions) parseTCB(v asn1.RawValue) error {
	var members []extMember
	if err := unmarshalAll(v.FullBytes, &members); err != nil {
		return fmt.Errorf("TCB: %w", err)
	}
	tcbOID := append(append(asn1.ObjectIdentifier{}, OIDSGXExtensions...), 2)
	seen := map[int]bool{}
	for _, m := range members {
		arc, ok := childArc(m.ID, tcbOID)
		if !ok || arc < 1 || arc > 18 {
			return fmt.Errorf("TCB: unknown member %v", m.ID)
		}
		if seen[arc] {
			return fmt.Errorf("TCB: member %v twice", m.ID)
		}
		seen[arc] = true
		if arc == 18 {
			if err := octets(m.Value, x.CPUSVN[:], "CPUSVN"); err != nil {
				return err
			}
			continue
		}
		var n int
		if err := unmarshalAll(m.Value.FullBytes, &n); err != nil {
			return fmt.Errorf("TCB: member %v: %w", m.ID, err)
		}
		limit := 255
		if arc == 17 {
			limit = 65535
		}
		if n < 0 || n > limit {
			return fmt.Errorf("TCB: member %v is %d, out of range", m.ID, n)
		}
		if arc == 17 {
			x.PCESVN = uint16(n)
		} else {
			x.CompSVN[arc-1] = byte(n)
		}
	}
	if len(seen) != 18 {
		return fmt.Errorf("TCB: %d of 18 members", len(seen))
	}
	return nil
}

func parseConfig(v asn1.RawValue) (*PlatformConfig, error) {
	var members []extMember
	if err := unmarshalAll(v.FullBytes, &members); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	cfgOID := append(append(asn1.ObjectIdentifier{}, OIDSGXExtensions...), 7)
	c := &PlatformConfig{}
	for _, m := range members {
		arc, ok := childArc(m.ID, cfgOID)
		var dst **bool
		switch {
		case ok && arc == 1:
			dst = &c.DynamicPlatform
		case ok && arc == 2:
			dst = &c.CachedKeys
		case ok && arc == 3:
			dst = &c.SMTEnabled
		default:
			return nil, fmt.Errorf("configuration: unknown member %v", m.ID)
		}
		if *dst != nil {
			return nil, fmt.Errorf("configuration: member %v twice", m.ID)
		}
		var b bool
		if err := unmarshalAll(m.Value.FullBytes, &b); err != nil {
			return nil, fmt.Errorf("configuration: member %v: %w", m.ID, err)
		}
		*dst = &b
	}
	return c, nil
}

// unmarshalAll is asn1.Unmarshal that refuses trailing bytes.
func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after the DER", len(rest))
	}
	return nil
}

// octets reads an OCTET STRING of exactly len(dst) bytes.
func octets(v asn1.RawValue, dst []byte, what string) error {
	var b []byte
	if err := unmarshalAll(v.FullBytes, &b); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%s of %d bytes, want %d", what, len(b), len(dst))
	}
	copy(dst, b)
	return nil
}

// childArc returns the last arc of id if id is parent plus one arc.
func childArc(id, parent asn1.ObjectIdentifier) (int, bool) {
	if len(id) != len(parent)+1 || !id[:len(parent)].Equal(parent) {
		return 0, false
	}
	return id[len(parent)], true
}
