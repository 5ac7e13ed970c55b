package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Client is the request mechanics the services' Go clients share.
type Client struct {
	// BaseURL is the service's URL, such as https://127.0.0.1:8441.
	BaseURL string
	// HTTP is the client to use; nil means http.DefaultClient. For a
	// service that presents attested TLS, configure its transport with
	// atls.Config.ClientConfig.
	HTTP *http.Client
	// Bearer authenticates the caller, when set.
	Bearer string
}

// Do sends a request with a body (nil; []byte sent as is; anything else
// encoded as JSON) and decodes a 2xx JSON reply into out (nil: discarded;
// an io.Writer: copied). A non-2xx reply becomes an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body any, out any) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.Bearer)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp, DecodeError(resp)
	}
	switch o := out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, resp.Body)
	case io.Writer:
		_, err = io.Copy(o, io.LimitReader(resp.Body, 256<<20))
	default:
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
	}
	return resp, err
}
