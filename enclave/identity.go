package enclave

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Platform names, as they appear in the "platform" claim.
const (
	PlatformSim = "sim"
	PlatformSGX = "sgx"
	PlatformSNP = "snp"
	PlatformTDX = "tdx"
)

// TCB status values, as they appear in the "tcb_status" claim. They follow
// Intel's TCB levels; AMD evidence maps onto the same words.
const (
	TCBUpToDate            = "UpToDate"
	TCBSWHardeningNeeded   = "SWHardeningNeeded"
	TCBConfigurationNeeded = "ConfigurationNeeded"
	TCBOutOfDate           = "OutOfDate"
	TCBRevoked             = "Revoked"
	// Intel's combined statuses (SGX).
	TCBConfigurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
	TCBOutOfDateConfigurationNeeded      = "OutOfDateConfigurationNeeded"
)

// Identity is what a platform measured about an enclave. Byte fields are as
// long as the platform makes them (32 bytes in simulation, 48 for SNP and TDX
// measurements); an absent value is all zeros, never nil, once verified.
type Identity struct {
	Platform  string
	UniqueID  []byte
	ConfigID  []byte
	SignerID  []byte
	ProductID uint16
	SVN       uint16
	Debug     bool
	TCBStatus string
}

// Equal reports whether two identities are the same in every field.
func (id Identity) Equal(o Identity) bool {
	return id.Platform == o.Platform &&
		bytes.Equal(id.UniqueID, o.UniqueID) &&
		bytes.Equal(id.ConfigID, o.ConfigID) &&
		bytes.Equal(id.SignerID, o.SignerID) &&
		id.ProductID == o.ProductID && id.SVN == o.SVN &&
		id.Debug == o.Debug && id.TCBStatus == o.TCBStatus
}

// Claims is verified evidence: the identity of the enclave that produced it
// and the report data it carried.
type Claims struct {
	Identity
	ReportData ReportData
	// Extra holds a platform's claims beyond the common model, named
	// "x-<platform>-…" (ValidExtraClaim) with string, float64 or bool
	// values — SGX's TCB evaluation data number and one claim per Intel
	// advisory ID, so that a policy can require or forbid each.
	Extra map[string]any
}

// ValidExtraClaim reports whether name and v may be an extra claim: a
// name starting "x-", at most 96 bytes of letters, digits, '-', '_' and
// '.', and a string, float64 or bool value.
func ValidExtraClaim(name string, v any) bool {
	if !strings.HasPrefix(name, "x-") || len(name) > 96 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	switch v.(type) {
	case string, float64, bool:
		return true
	}
	return false
}

type claimsJSON struct {
	Platform   string `json:"platform"`
	UniqueID   string `json:"unique_id"`
	ConfigID   string `json:"config_id"`
	SignerID   string `json:"signer_id"`
	ProductID  uint16 `json:"product_id"`
	SVN        uint16 `json:"svn"`
	Debug      bool   `json:"debug"`
	TCBStatus  string `json:"tcb_status"`
	ReportData string `json:"report_data"`
}

// MarshalJSON writes the claims under their canonical names, byte values in
// lower-case hex, then the extra claims in name order.
func (c Claims) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(claimsJSON{
		Platform:   c.Platform,
		UniqueID:   hex.EncodeToString(c.UniqueID),
		ConfigID:   hex.EncodeToString(c.ConfigID),
		SignerID:   hex.EncodeToString(c.SignerID),
		ProductID:  c.ProductID,
		SVN:        c.SVN,
		Debug:      c.Debug,
		TCBStatus:  c.TCBStatus,
		ReportData: hex.EncodeToString(c.ReportData[:]),
	})
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	b = b[:len(b)-1]
	for _, name := range slices.Sorted(maps.Keys(c.Extra)) {
		v := c.Extra[name]
		if !ValidExtraClaim(name, v) {
			return nil, fmt.Errorf("claims: invalid extra claim %q", name)
		}
		k, _ := json.Marshal(name)
		x, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b = append(append(append(append(b, ','), k...), ':'), x...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads claims written by MarshalJSON. Unknown fields are
// errors, but for valid extra claims: claims travel into policies, and a
// misspelt name must not pass.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&all); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("claims: trailing data")
	}
	var extra map[string]any
	known := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[claimsJSON]()) {
		known[f.Tag.Get("json")] = true
	}
	for name, raw := range all {
		if known[name] {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil || !ValidExtraClaim(name, v) {
			return fmt.Errorf("claims: unknown claim %q", name)
		}
		if extra == nil {
			extra = map[string]any{}
		}
		extra[name] = v
	}
	var j claimsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	out := Claims{Extra: extra}
	var err error
	out.Platform, out.ProductID, out.SVN, out.Debug, out.TCBStatus = j.Platform, j.ProductID, j.SVN, j.Debug, j.TCBStatus
	for _, f := range []struct {
		dst *[]byte
		src string
	}{{&out.UniqueID, j.UniqueID}, {&out.ConfigID, j.ConfigID}, {&out.SignerID, j.SignerID}} {
		if *f.dst, err = hex.DecodeString(f.src); err != nil {
			return fmt.Errorf("claims: %w", err)
		}
	}
	rd, err := hex.DecodeString(j.ReportData)
	if err != nil || len(rd) != len(out.ReportData) {
		return errors.New("claims: report_data must be 64 bytes of hex")
	}
	copy(out.ReportData[:], rd)
	*c = out
	return nil
}

// Map returns the claims as policy input: names to string, number or bool,
// the extra claims included.
func (c Claims) Map() map[string]any {
	m := map[string]any{
		"platform":    c.Platform,
		"unique_id":   hex.EncodeToString(c.UniqueID),
		"config_id":   hex.EncodeToString(c.ConfigID),
		"signer_id":   hex.EncodeToString(c.SignerID),
		"product_id":  float64(c.ProductID),
		"svn":         float64(c.SVN),
		"debug":       c.Debug,
		"tcb_status":  c.TCBStatus,
		"report_data": hex.EncodeToString(c.ReportData[:]),
	}
	for k, v := range c.Extra {
		if ValidExtraClaim(k, v) {
			m[k] = v
		}
	}
	return m
}
