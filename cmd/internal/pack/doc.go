// Package pack is the packed per-test layout of the out bucket
// (--per-test-layout=packed, docs/packed-layout.md): a run's per-test files,
// byte for byte, one after another in one object sorted by test path, and
// an index of where each is. Write writes a pack and its index; Reader finds
// one test's file with a range read; DecodeIndex reads an index.
//
// It is a leaf among cmd/internal: it imports store and no other package of
// this module's commands.
package pack
