// verify opens an eStargz blob with the reference reader (containerd's estargz package),
// checks the TOC against the expected TOC digest, reads every chunk of every regular file
// through the TOC's offsets and checks it against its chunkDigest, then lists the files as
// "<type> <size> <name>" lines (sorted by name).
//
//	verify BLOB TOC_DIGEST
package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/containerd/stargz-snapshotter/estargz"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) != 3 {
		fail("usage: verify BLOB TOC_DIGEST")
	}
	file, err := os.Open(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	info, err := file.Stat()
	if err != nil {
		fail("%v", err)
	}
	reader, err := estargz.Open(io.NewSectionReader(file, 0, info.Size()))
	if err != nil {
		fail("%s is not a readable eStargz blob: %v", os.Args[1], err)
	}
	expected, err := digest.Parse(os.Args[2])
	if err != nil {
		fail("bad TOC digest %q: %v", os.Args[2], err)
	}
	verifier, err := reader.VerifyTOC(expected)
	if err != nil {
		fail("TOC does not verify: %v", err)
	}
	root, ok := reader.Lookup("")
	if !ok {
		fail("the TOC has no root directory")
	}
	var lines []string
	walk(root, "", func(name string, entry *estargz.TOCEntry) {
		if entry.Type == "reg" {
			verifyChunks(reader, verifier, name, entry)
		}
		lines = append(lines, fmt.Sprintf("%s %d %s", entry.Type, entry.Size, name))
	})
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Println(line)
	}
}

func walk(dir *estargz.TOCEntry, prefix string, visit func(string, *estargz.TOCEntry)) {
	dir.ForeachChild(func(base string, entry *estargz.TOCEntry) bool {
		name := path.Join(prefix, base)
		visit(name, entry)
		if entry.Type == "dir" {
			walk(entry, name, visit)
		}
		return true
	})
}

// verifyChunks reads the file chunk by chunk at the chunks' offsets and checks each chunk's
// digest, then the whole file's digest.
func verifyChunks(reader *estargz.Reader, verifier estargz.TOCEntryVerifier, name string, entry *estargz.TOCEntry) {
	content, err := reader.OpenFile(name)
	if err != nil {
		fail("%s: %v", name, err)
	}
	whole := digest.Canonical.Digester()
	for offset := int64(0); offset < entry.Size; {
		chunk, ok := reader.ChunkEntryForOffset(name, offset)
		if !ok {
			fail("%s: no chunk at byte %d", name, offset)
		}
		check, err := verifier.Verifier(chunk)
		if err != nil {
			fail("%s: %v", name, err)
		}
		section := io.NewSectionReader(content, chunk.ChunkOffset, chunk.ChunkSize)
		if _, err := io.Copy(io.MultiWriter(check, whole.Hash()), section); err != nil {
			fail("%s: reading the chunk at byte %d: %v", name, offset, err)
		}
		if !check.Verified() {
			fail("%s: the chunk at byte %d does not match its chunkDigest", name, offset)
		}
		offset = chunk.ChunkOffset + chunk.ChunkSize
	}
	if entry.Size > 0 && whole.Digest().String() != entry.Digest {
		fail("%s: content digest %s, TOC says %s", name, whole.Digest(), entry.Digest)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "verify: error: "+format+"\n", args...)
	os.Exit(1)
}
