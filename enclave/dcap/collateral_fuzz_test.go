package dcap

import "testing"

// Seeds: objects of the shapes PCS serves (the fake hierarchy's in
// verify_test.go are signed; these are the signed objects alone).
const (
	seedTCBInfoV3  = `{"id":"SGX","version":3,"issueDate":"2026-05-31T00:00:00Z","nextUpdate":"2026-06-30T00:00:00Z","fmspc":"00906ed50000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tcbLevels":[{"tcb":{"sgxtcbcomponents":[{"svn":2},{"svn":3},{"svn":4},{"svn":5},{"svn":6},{"svn":7},{"svn":8},{"svn":9},{"svn":10},{"svn":11},{"svn":12},{"svn":13},{"svn":14},{"svn":15},{"svn":16},{"svn":17}],"pcesvn":13},"tcbDate":"2026-05-01T00:00:00Z","tcbStatus":"SWHardeningNeeded","advisoryIDs":["INTEL-SA-00615"]}]}`
	seedTCBInfoV2  = `{"version":2,"issueDate":"2026-05-31T00:00:00Z","nextUpdate":"2026-06-30T00:00:00Z","fmspc":"00906ed50000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":12,"tcbLevels":[{"tcb":{"sgxtcbcomp01svn":2,"sgxtcbcomp02svn":2,"sgxtcbcomp03svn":2,"sgxtcbcomp04svn":2,"sgxtcbcomp05svn":2,"sgxtcbcomp06svn":2,"sgxtcbcomp07svn":2,"sgxtcbcomp08svn":2,"sgxtcbcomp09svn":2,"sgxtcbcomp10svn":2,"sgxtcbcomp11svn":2,"sgxtcbcomp12svn":2,"sgxtcbcomp13svn":2,"sgxtcbcomp14svn":2,"sgxtcbcomp15svn":2,"sgxtcbcomp16svn":2,"pcesvn":10},"tcbDate":"2026-05-01T00:00:00Z","tcbStatus":"UpToDate"}]}`
	seedQEIdentity = `{"id":"QE","version":2,"issueDate":"2026-05-31T00:00:00Z","nextUpdate":"2026-06-30T00:00:00Z","tcbEvaluationDataNumber":17,"miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"8C4F5775D796503E96137F77C68A829A0056AC8DED70140B081B094490C57BFF","isvprodid":1,"tcbLevels":[{"tcb":{"isvsvn":8},"tcbDate":"2026-05-01T00:00:00Z","tcbStatus":"UpToDate"},{"tcb":{"isvsvn":6},"tcbDate":"2025-05-01T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-00615"]}]}`
)

// TestCollateralSeeds keeps the fuzz seeds valid.
func TestCollateralSeeds(t *testing.T) {
	for _, s := range []string{seedTCBInfoV3, seedTCBInfoV2} {
		if _, err := parseTCBInfo([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := parseQEIdentity([]byte(seedQEIdentity)); err != nil {
		t.Fatal(err)
	}
}

// FuzzTCBInfo and FuzzQEIdentity check that the signed objects' readers
// never panic and keep their invariants on whatever they accept (the
// signature is checked before them, but their input is still text from
// outside).
func FuzzTCBInfo(f *testing.F) {
	f.Add([]byte(seedTCBInfoV3))
	f.Add([]byte(seedTCBInfoV2))
	f.Fuzz(func(t *testing.T, b []byte) {
		ti, err := parseTCBInfo(b)
		if err != nil {
			return
		}
		if len(ti.Levels) == 0 || ti.Version < 2 || ti.Version > 3 {
			t.Fatalf("accepted %+v", ti)
		}
		for _, l := range ti.Levels {
			if !platformStatuses[l.Status] {
				t.Fatalf("status %q accepted", l.Status)
			}
		}
	})
}

func FuzzQEIdentity(f *testing.F) {
	f.Add([]byte(seedQEIdentity))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseQEIdentity(b)
		if err != nil {
			return
		}
		for _, l := range q.Levels {
			if !qeStatuses[l.Status] {
				t.Fatalf("status %q accepted", l.Status)
			}
		}
	})
}
