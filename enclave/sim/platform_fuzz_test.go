package sim

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/confide/confide/enclave"
)

// FuzzPlatformRequest feeds arbitrary frames to the platform's request
// decoding and handling, as any local process can: no panic, and every
// answer is either an error or well formed.
func FuzzPlatformRequest(f *testing.F) {
	dir, err := os.MkdirTemp("", "cffz")
	if err != nil {
		f.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keys, err := Init(dir, InitOptions{})
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{Keys: keys}
	id := enclave.Identity{Platform: enclave.PlatformSim, UniqueID: make([]byte, 32), ConfigID: make([]byte, 32),
		SignerID: make([]byte, 32), SVN: 3, Debug: true, TCBStatus: enclave.TCBUpToDate}
	frame := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	f.Add(frame(`{"v":1,"op":"identity"}`))
	f.Add(frame(`{"v":1,"op":"evidence","report_data":"` + string(bytes.Repeat([]byte("A"), 86)) + `=="}`))
	f.Add(frame(`{"v":1,"op":"sealkey","policy":2,"svn":3,"key_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add(frame(`{"v":1,"op":"sealkey","policy":2,"svn":4,"key_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req request
		if readFrame(bytes.NewReader(b), &req) != nil {
			return
		}
		resp := s.handle(id, req)
		if resp.Error != "" {
			return
		}
		switch req.Op {
		case "evidence":
			if _, _, err := enclave.UnwrapEvidence(resp.Evidence); err != nil {
				t.Fatalf("malformed evidence answered: %v", err)
			}
		case "sealkey":
			if len(resp.Key) != 32 || req.SVN > id.SVN {
				t.Fatalf("sealkey answered %x for %+v", resp.Key, req)
			}
		case "identity":
			if resp.Identity == nil {
				t.Fatal("identity answered nothing")
			}
		default:
			t.Fatalf("unknown op %q answered", req.Op)
		}
	})
}
