package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Backend is a storage service running for a test on 127.0.0.1: an
// in-process S3 or GCS emulator, or an Azurite process.
type Backend struct {
	// Name names the backend in test names: "s3", "gcs", "azure".
	Name string
	// Caps says what the emulator does of the cloud's contract.
	Caps Caps
	// Env holds the environment variables store.Open needs for the
	// backend's URLs, as the start function set them with t.Setenv.
	Env map[string]string

	newBucket func(t testing.TB, name string) string
	objectURL func(t testing.TB, bucket, key string) string
}

// ObjectURL returns a URL at which a plain HTTP GET, with no credentials
// of its own, reads key of the bucket at bucketURL (from NewBucketURL):
// the path-style URL on the S3 and GCS emulators, which check no
// credentials (the shape of GCS's public URLs,
// https://storage.googleapis.com/<bucket>/<key>), and on Azurite a URL
// with a read-only SAS signed with the development account's key.
func (b *Backend) ObjectURL(t testing.TB, bucketURL, key string) string {
	t.Helper()
	u, err := url.Parse(bucketURL)
	if err != nil {
		t.Fatalf("storetest: bucket URL %q: %v", bucketURL, err)
	}
	return b.objectURL(t, u.Host, key)
}

// escapeKey escapes each segment of key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// NewBucketURL creates a new empty bucket (container) and returns the URL
// store.Open opens it with.
func (b *Backend) NewBucketURL(t testing.TB) string {
	t.Helper()
	return b.newBucket(t, newBucketName())
}

// newBucketName returns a name valid on every cloud: 3–63 lower-case
// letters, digits and dashes, starting with a letter.
func newBucketName() string {
	var p [6]byte
	rand.Read(p[:])
	return "b-" + hex.EncodeToString(p[:])
}

// setenv sets the variables with t.Setenv (the calling test must not be
// parallel) and records them.
func (b *Backend) setenv(t testing.TB, kv ...string) {
	if b.Env == nil {
		b.Env = map[string]string{}
	}
	for i := 0; i < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
		b.Env[kv[i]] = kv[i+1]
	}
}

// S3Caps are the capabilities of gofakes3 v1.2.0: it honours
// If-None-Match: * on PutObject, atomically, but not on
// CompleteMultipartUpload, so a write-once write large enough for a
// multipart upload (over 8 MiB through s3blob) overwrites.
var S3Caps = Caps{WriteOnceMultipart: false, Metadata: true}

// StartS3 starts gofakes3 (in-memory) behind a real listener on 127.0.0.1
// and sets the AWS credential variables the SDK reads. Bucket URLs are
// s3://<bucket>?endpoint=http://127.0.0.1:<port>&region=us-east-1&use_path_style=true.
func StartS3(t testing.TB) *Backend {
	t.Helper()
	mem := s3mem.New()
	faker := gofakes3.New(mem, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	b := &Backend{Name: "s3", Caps: S3Caps}
	// Credentials come from the environment, as on a CI runner; gofakes3
	// does not check signatures. The rest keeps the SDK from looking for
	// profiles or an instance metadata service.
	b.setenv(t,
		"AWS_ACCESS_KEY_ID", "test",
		"AWS_SECRET_ACCESS_KEY", "test",
		"AWS_SESSION_TOKEN", "",
		"AWS_PROFILE", "",
		"AWS_EC2_METADATA_DISABLED", "true",
		"AWS_CONFIG_FILE", os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE", os.DevNull,
	)
	b.newBucket = func(t testing.TB, name string) string {
		t.Helper()
		if err := mem.CreateBucket(name); err != nil {
			t.Fatalf("storetest: create S3 bucket %s: %v", name, err)
		}
		return S3URL(name, srv.URL)
	}
	b.objectURL = func(t testing.TB, bucket, key string) string {
		return srv.URL + "/" + bucket + "/" + escapeKey(key)
	}
	return b
}

// S3URL is the URL of bucket on an S3-compatible server at endpoint
// (http://host:port): path-style requests, region us-east-1, and response
// checksums checked only where the SDK asks for them: gofakes3 answers a
// range read with the whole object's x-amz-checksum-crc32, stored at
// upload, which the SDK's default (when_supported) rejects.
func S3URL(bucket, endpoint string) string {
	q := url.Values{}
	q.Set("endpoint", endpoint)
	q.Set("region", "us-east-1")
	q.Set("use_path_style", "true")
	q.Set("response_checksum_validation", "when_required")
	return "s3://" + bucket + "?" + q.Encode()
}

// GCSCaps are the capabilities of fake-gcs-server: ifGenerationMatch=0 is
// checked under the backend's lock, for simple and resumable uploads.
var GCSCaps = AllCaps

// StartGCS starts fake-gcs-server in process (memory backend) on
// 127.0.0.1 and sets STORAGE_EMULATOR_HOST, which makes gcsblob use no
// credentials and the storage client use the emulator. Bucket URLs are
// gs://<bucket>.
func StartGCS(t testing.TB) *Backend {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http",
		Host:   "127.0.0.1",
		// Downloads go to <public host>/<bucket>/<object>; with the default
		// (storage.googleapis.com) every read answers 404. Without a port
		// it matches the host of any port.
		PublicHost: "127.0.0.1",
		Writer:     io.Discard,
	})
	if err != nil {
		t.Fatalf("storetest: start fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	u, _ := url.Parse(srv.URL())
	b := &Backend{Name: "gcs", Caps: GCSCaps}
	b.setenv(t, "STORAGE_EMULATOR_HOST", u.Host)
	b.newBucket = func(t testing.TB, name string) string {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
		return "gs://" + name
	}
	b.objectURL = func(t testing.TB, bucket, key string) string {
		return srv.URL() + "/" + bucket + "/" + escapeKey(key)
	}
	return b
}

// Azurite's well-known development account (public, documented by
// Microsoft; it opens nothing but a local emulator).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// AzuriteInstall is the command that installs Azurite.
const AzuriteInstall = "npm install -g azurite"

// AzureCaps are the capabilities of Azurite: If-None-Match: * is checked
// and the blob inserted without yielding, on Put Blob and Put Block List.
var AzureCaps = AllCaps

// StartAzurite starts an Azurite blob service (in memory) on a free port of
// 127.0.0.1 and sets AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY to its
// development account. Bucket URLs are
// azblob://<container>?localemu=true&protocol=http&domain=127.0.0.1:<port>.
// Without azurite on PATH the test is skipped with the install command, or
// fails when CI=true.
func StartAzurite(t testing.TB) *Backend {
	t.Helper()
	bin := azuriteBinary()
	if bin == "" {
		msg := "storetest: azurite not found on PATH; install it with `" + AzuriteInstall + "` (node and npm needed)"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var port int
	var cmd *exec.Cmd
	var out *syncBuffer
	for attempt := 0; ; attempt++ {
		port = freePort(t)
		out = &syncBuffer{}
		cmd = exec.Command(bin,
			"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--disableTelemetry", "--skipApiVersionCheck", "--inMemoryPersistence", "--silent")
		cmd.Dir = t.TempDir() // it writes nothing with --inMemoryPersistence; in case
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("storetest: start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if err := waitListening(port, exited, 30*time.Second); err == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			break
		} else {
			cmd.Process.Kill()
			<-exited
			if attempt == 2 {
				t.Fatalf("storetest: azurite did not start on port %d: %v\n%s", port, err, out.String())
			}
		}
	}
	domain := "127.0.0.1:" + strconv.Itoa(port)
	b := &Backend{Name: "azure", Caps: AzureCaps}
	b.setenv(t,
		"AZURE_STORAGE_ACCOUNT", AzuriteAccount,
		"AZURE_STORAGE_KEY", AzuriteKey,
	)
	cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential("http://"+domain+"/"+AzuriteAccount, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.newBucket = func(t testing.TB, name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.CreateContainer(ctx, name, nil); err != nil {
			t.Fatalf("storetest: create Azure container %s: %v", name, err)
		}
		return AzureURL(name, domain)
	}
	b.objectURL = func(t testing.TB, container, key string) string {
		t.Helper()
		u, err := client.ServiceClient().NewContainerClient(container).NewBlobClient(key).
			GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil)
		if err != nil {
			t.Fatalf("storetest: SAS URL of %s/%s: %v", container, key, err)
		}
		return u
	}
	return b
}

// AzureURL is the URL of container on a local emulator at domain
// (host:port).
func AzureURL(container, domain string) string {
	q := url.Values{}
	q.Set("localemu", "true")
	q.Set("protocol", "http")
	q.Set("domain", domain)
	return "azblob://" + container + "?" + q.Encode()
}

// azuriteBinary finds Azurite's blob service: on PATH, or installed into
// node_modules of the module root (npm install azurite).
func azuriteBinary() string {
	for _, name := range []string{"azurite-blob", "azurite"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until the blob service on port answers HTTP.
func waitListening(port int, exited <-chan struct{}, d time.Duration) error {
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited")
		default:
		}
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/" + AzuriteAccount + "?comp=list")
		if err == nil {
			resp.Body.Close()
			if !strings.HasPrefix(resp.Header.Get("Server"), "Azurite") {
				return fmt.Errorf("port %d answered by %q, not Azurite", port, resp.Header.Get("Server"))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
