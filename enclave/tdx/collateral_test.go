package tdx

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"

	tdxtesting "github.com/google/go-tdx-guest/testing"
)

func TestCollateralFile(t *testing.T) {
	const api = "https://api.trustedservices.intel.com"
	good := map[string]string{
		api + "/tdx/certification/v4/tcb?fmspc=50806f000000":                "tcbinfo-50806f000000.json",
		api + "/tdx/certification/v4/qe/identity":                           "qeidentity.json",
		api + "/sgx/certification/v4/pckcrl?ca=platform&encoding=der":       "pckcrl-platform.der",
		api + "/sgx/certification/v4/pckcrl?encoding=der&ca=processor":      "pckcrl-processor.der",
		"https://certificates.trustedservices.intel.com/IntelSGXRootCA.der": "rootcrl.der",
	}
	for u, want := range good {
		if got, _, err := collateralFile(u); err != nil || got != want {
			t.Errorf("collateralFile(%q) = %q, %v; want %q", u, got, err, want)
		}
	}
	bad := []string{
		"http://api.trustedservices.intel.com/tdx/certification/v4/qe/identity",
		"https://example.com/tdx/certification/v4/qe/identity",
		api + "/tdx/certification/v4/qe/identity?x=1",
		api + "/tdx/certification/v4/qe/identity#frag",
		"https://user@api.trustedservices.intel.com/tdx/certification/v4/qe/identity",
		api + "/tdx/certification/v4/tcb?fmspc=50806F000000",
		api + "/tdx/certification/v4/tcb?fmspc=../../etc/x",
		api + "/tdx/certification/v4/tcb?fmspc=50806f000000&fmspc=50806f000000",
		api + "/tdx/certification/v4/tcb?fmspc=50806f000000&update=early",
		api + "/sgx/certification/v4/tcb?fmspc=50806f000000",
		api + "/sgx/certification/v4/pckcrl?ca=platform",
		api + "/sgx/certification/v4/pckcrl?ca=other&encoding=der",
		api + "/sgx/certification/v4/pckcrl?ca=platform&encoding=pem",
		"https://certificates.trustedservices.intel.com/IntelSGXRootCA.der?x",
		"https://certificates.trustedservices.intel.com/Other.der",
		"::",
	}
	for _, u := range bad {
		if got, _, err := collateralFile(u); !errors.Is(err, ErrNoCollateral) {
			t.Errorf("collateralFile(%q) = %q, %v; want ErrNoCollateral", u, got, err)
		}
	}
}

// TestCollateralFSMatchesCannedGetter serves go-tdx-guest's canned
// responses from files and checks that the library sees the same headers
// and bodies as from its own canned getter.
func TestCollateralFSMatchesCannedGetter(t *testing.T) {
	src := CollateralFS(cannedFS(t))
	for u, want := range tdxtesting.TestGetter.Responses {
		header, body, err := src.Get(context.Background(), u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if !bytes.Equal(body, want.Body) {
			t.Errorf("%s: body differs", u)
		}
		if len(want.Header) == 0 && len(header) == 0 {
			continue
		}
		if !reflect.DeepEqual(header, want.Header) {
			t.Errorf("%s: header\n got %q\nwant %q", u, header, want.Header)
		}
	}
}

func TestCollateralFSErrors(t *testing.T) {
	const u = "https://api.trustedservices.intel.com/tdx/certification/v4/qe/identity"
	noChain := CollateralFS(fstest.MapFS{"qeidentity.json": {Data: []byte("{}")}})
	if _, _, err := noChain.Get(context.Background(), u); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing chain file: %v", err)
	}
	if _, _, err := CollateralFS(fstest.MapFS{}).Get(context.Background(), u); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing body file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := CollateralFS(cannedFS(t)).Get(ctx, u); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, _, err := GetterCollateral(tdxtesting.TestGetter).Get(ctx, u); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled getter: %v", err)
	}
}
