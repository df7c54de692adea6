package seal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// maxKeyFileSize bounds how much of a key file is read: a key is 45 bytes of
// base64, so anything near this is not a key file.
const maxKeyFileSize = 64 << 10

// ParseKeyFile parses the contents of a key file: one base64 key per line
// (see ParseKey), the first being the primary and the rest older keys kept for
// decryption. Blank lines and lines starting with '#' are ignored, so rotation
// is "prepend the new key, keep the old ones below". Errors name the line
// number, never the key material.
func ParseKeyFile(data []byte) (primary []byte, older [][]byte, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), maxKeyFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := parseKey(line)
		if err != nil {
			return nil, nil, fmt.Errorf("seal: key file line %d: %w", n, err)
		}
		if primary == nil {
			primary = key
		} else {
			older = append(older, key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("seal: reading key file: %w", err)
	}
	if primary == nil {
		return nil, nil, errors.New("seal: key file holds no key")
	}
	return primary, older, nil
}

// LoadOrCreateKeyFile returns the primary key of the key file at path,
// creating the file with a fresh key (mode 0600, base64 and a newline) if it
// does not exist; created reports which happened. An existing file is never
// overwritten: one that is readable or writable by group or others, or does
// not hold valid keys, is refused with an error saying how to fix it.
// Use LoadOrCreateKeyring to keep the older keys a rotated file lists.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	data, created, err := readOrCreateKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	primary, _, err := ParseKeyFile(data)
	if err != nil {
		return nil, false, fmt.Errorf("%w (in %s)", err, path)
	}
	return primary, created, nil
}

// LoadOrCreateKeyring is LoadOrCreateKeyFile returning a Keyring with every
// key the file lists.
func LoadOrCreateKeyring(path string) (k *Keyring, created bool, err error) {
	data, created, err := readOrCreateKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	primary, older, err := ParseKeyFile(data)
	if err != nil {
		return nil, false, fmt.Errorf("%w (in %s)", err, path)
	}
	k, err = NewKeyring(primary, older...)
	if err != nil {
		return nil, false, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, created, nil
}

func readOrCreateKeyFile(path string) ([]byte, bool, error) {
	data, err := readKeyFile(path)
	if err == nil {
		return data, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	data = []byte(EncodeKey(GenerateKey()) + "\n")
	err = createKeyFile(path, data)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our open and create: use theirs.
		data, err = readKeyFile(path)
		return data, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// readKeyFile reads path after checking, on the open file itself (no race
// with a chmod in between), that it is a regular file private to its owner.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file (mode %s)", path, fi.Mode())
	}
	// Windows reports synthetic permission bits; ACLs protect files there.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("seal: key file %s has mode %04o, which lets group or others access it; run `chmod 600 %s` (and consider rotating the key)", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("seal: key file %s is larger than %d bytes; is it the right file?", path, maxKeyFileSize)
	}
	return data, nil
}

// createKeyFile writes data to a new file at path. O_EXCL makes creation
// atomic, so an existing key is never replaced; a half-written file is removed
// so that a failed start leaves no unusable key behind.
func createKeyFile(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("seal: creating key file: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	return nil
}
