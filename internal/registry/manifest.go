package registry

import (
	"cmp"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types the registry accepts.
const (
	mediaTypeOCIManifest        = v1.MediaTypeImageManifest
	mediaTypeOCIIndex           = v1.MediaTypeImageIndex
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestBytes is the size limit the spec suggests registries enforce.
const maxManifestBytes = 4 << 20

// manifestDoc is the union of the manifest and index shapes the registry reads.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// parseManifest checks a pushed manifest and returns its index record (without digest
// and push time). contentType is the request's Content-Type.
func parseManifest(body []byte, contentType string) (*Manifest, error) {
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errManifestInvalid("manifest is not valid JSON: " + err.Error())
	}
	mediaType, err := manifestMediaType(&doc, contentType)
	if err != nil {
		return nil, err
	}
	if doc.SchemaVersion != 2 {
		return nil, errManifestInvalid(fmt.Sprintf("schemaVersion is %d; only 2 is supported", doc.SchemaVersion))
	}
	m := &Manifest{MediaType: mediaType, ArtifactType: doc.ArtifactType}
	switch mediaType {
	case mediaTypeOCIManifest, mediaTypeDockerManifest:
		if doc.Config == nil {
			return nil, errManifestInvalid("an image manifest needs a config descriptor")
		}
		for _, desc := range append([]v1.Descriptor{*doc.Config}, doc.Layers...) {
			if err := desc.Digest.Validate(); err != nil {
				return nil, errManifestInvalid(fmt.Sprintf("descriptor digest %q: %v", desc.Digest, err))
			}
			if !foreignLayer(desc.MediaType) {
				m.Blobs = append(m.Blobs, desc.Digest)
			}
		}
		if m.ArtifactType == "" && mediaType == mediaTypeOCIManifest {
			m.ArtifactType = doc.Config.MediaType // how the referrers API reports artifacts
		}
	default:
		for _, desc := range doc.Manifests {
			if err := desc.Digest.Validate(); err != nil {
				return nil, errManifestInvalid(fmt.Sprintf("manifests[] digest %q: %v", desc.Digest, err))
			}
			m.Children = append(m.Children, desc.Digest)
		}
	}
	if doc.Subject != nil {
		if err := doc.Subject.Digest.Validate(); err != nil {
			return nil, errManifestInvalid(fmt.Sprintf("subject digest %q: %v", doc.Subject.Digest, err))
		}
		m.Subject = doc.Subject.Digest
	}
	return m, nil
}

// manifestMediaType settles the manifest's media type from the Content-Type header and
// the document's own mediaType member, which must agree when both are given.
func manifestMediaType(doc *manifestDoc, contentType string) (string, error) {
	header, _, _ := mime.ParseMediaType(contentType)
	known := func(t string) bool {
		switch t {
		case mediaTypeOCIManifest, mediaTypeOCIIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList:
			return true
		}
		return false
	}
	switch {
	case known(header) && doc.MediaType != "" && doc.MediaType != header:
		return "", errManifestInvalid(fmt.Sprintf("Content-Type %s does not match the manifest's mediaType %s", header, doc.MediaType))
	case known(header):
		return header, nil
	case known(doc.MediaType):
		return doc.MediaType, nil
	case doc.MediaType == "" && doc.Config != nil:
		return mediaTypeOCIManifest, nil
	case doc.MediaType == "" && doc.Manifests != nil:
		return mediaTypeOCIIndex, nil
	}
	return "", errManifestInvalid(fmt.Sprintf("unsupported manifest media type %q; push an OCI or Docker v2 schema 2 manifest or index", cmp.Or(doc.MediaType, header)))
}

// descriptor is how the referrers API lists a manifest; annotations come from its content.
func (m *Manifest) descriptor(content []byte) v1.Descriptor {
	var doc struct {
		Annotations map[string]string `json:"annotations"`
	}
	json.Unmarshal(content, &doc) // stored manifests were parsed when pushed
	return v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType, Annotations: doc.Annotations}
}

// foreignLayer reports layers that live outside registries by design (non-distributable
// OCI layers, Docker foreign layers): a manifest may name them without pushing them.
func foreignLayer(mediaType string) bool {
	return strings.Contains(mediaType, ".nondistributable.") || strings.Contains(mediaType, ".foreign.")
}
