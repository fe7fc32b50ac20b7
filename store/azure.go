package store

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// identity asks for the stored bytes as they are.
var identity = http.Header{"Accept-Encoding": {"identity"}}

// azureReadContext makes azureblob read the stored bytes of an object
// written with Content-Encoding gzip. Azure never transcodes: it serves
// the stored bytes with the stored Content-Encoding. But the SDK sends no
// Accept-Encoding of its own, so Go's transport adds "gzip" and, seeing
// Content-Encoding: gzip in the answer, decompresses it, ranges (x-ms-range,
// which the transport does not recognise as a range) included. An explicit
// Accept-Encoding turns that off.
func azureReadContext(ctx context.Context) context.Context {
	return policy.WithHTTPHeader(ctx, identity)
}
