//go:build unix

package store

import (
	"crypto/rand"
	"encoding/hex"
	"syscall"
)

// writeSmall writes p to a new temp file beside path and renames it into
// place with raw system calls: os.OpenFile registers every file with the
// network poller (three fcntl calls and an epoll_ctl) and os.Rename stats
// the target first, which doubles the cost of writing tens of thousands of
// small per-test files. It returns syscall.ENOENT when the directory is
// missing.
func writeSmall(path string, p []byte) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	for len(p) > 0 {
		n, err := syscall.Write(fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			syscall.Unlink(tmp)
			return err
		}
		p = p[n:]
	}
	if err := syscall.Close(fd); err != nil {
		syscall.Unlink(tmp)
		return err
	}
	if err := syscall.Rename(tmp, path); err != nil {
		syscall.Unlink(tmp)
		return err
	}
	return nil
}

var errNoFastWrite error // never returned on unix
