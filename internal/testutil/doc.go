// Package testutil holds the helpers the project's tests would otherwise
// each write for themselves: golden files with an -update flag ([Golden])
// and gzip round trips ([Gzip], [Gunzip]).
//
// testutil is for tests only: import it from _test.go files, never from a
// package's own code. It defines the test binary's -update flag, so a
// package whose tests import it must not define its own (the flag package
// panics on a second definition). It imports only the standard library
// and no package of this module.
package testutil
