package ecr

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"gantry/internal/awsapi"
	"gantry/internal/registry"
)

// ImageIdentifier names an image by digest, tag or both.
type ImageIdentifier struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

// ImageFailure is a per-image failure of a batch call.
type ImageFailure struct {
	ImageID       ImageIdentifier `json:"imageId"`
	FailureCode   string          `json:"failureCode"`
	FailureReason string          `json:"failureReason"`
}

// ImageDetail is DescribeImages' view of an image.
type ImageDetail struct {
	RegistryID             string            `json:"registryId"`
	RepositoryName         string            `json:"repositoryName"`
	ImageDigest            string            `json:"imageDigest"`
	ImageTags              []string          `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64             `json:"imageSizeInBytes"`
	ImagePushedAt          awsapi.Timestamp  `json:"imagePushedAt"`
	ImageManifestMediaType string            `json:"imageManifestMediaType"`
	ArtifactMediaType      string            `json:"artifactMediaType,omitempty"`
	SubjectManifestDigest  string            `json:"subjectManifestDigest,omitempty"`
	ImageStatus            string            `json:"imageStatus"`
	LastRecordedPullTime   *awsapi.Timestamp `json:"lastRecordedPullTime,omitempty"`
}

// imageItem is ECR's Image shape, BatchGetImage's and PutImage's view: the manifest itself.
type imageItem struct {
	RegistryID             string          `json:"registryId"`
	RepositoryName         string          `json:"repositoryName"`
	ImageID                ImageIdentifier `json:"imageId"`
	ImageManifest          string          `json:"imageManifest"`
	ImageManifestMediaType string          `json:"imageManifestMediaType"`
}

type imageFilter struct {
	TagStatus   string `json:"tagStatus"`
	ImageStatus string `json:"imageStatus"`
}

// images loads a repository's images (the repository must exist), filtered by tag status.
func (s *Service) images(ctx context.Context, registryID, name string, filter *imageFilter) ([]registry.Image, error) {
	if err := s.checkRegistryID(registryID); err != nil {
		return nil, err
	}
	if _, _, err := s.loadRepo(ctx, name); err != nil {
		return nil, err
	}
	status := "ANY"
	if filter != nil && filter.TagStatus != "" {
		status = filter.TagStatus
	}
	if !slices.Contains([]string{"TAGGED", "UNTAGGED", "ANY"}, status) {
		return nil, awsapi.InvalidParameter("filter.tagStatus: %q is invalid; use TAGGED, UNTAGGED or ANY", status)
	}
	all, err := s.registry.Images(ctx, name)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(im registry.Image) bool {
		return status == "TAGGED" && len(im.Tags) == 0 || status == "UNTAGGED" && len(im.Tags) > 0
	}), nil
}

// page cuts items to one page of at most limit, resuming at the offset in token.
func page[T any](items []T, token, scope string, limit int) ([]T, string, error) {
	start := 0
	if token != "" {
		key, err := awsapi.ResumeAfter(token, scope)
		if err != nil {
			return nil, "", err
		}
		if start, err = strconv.Atoi(strings.TrimPrefix(key, scope)); err != nil || start < 0 {
			return nil, "", awsapi.InvalidParameter("nextToken: not a token this listing returned; start again without nextToken")
		}
	}
	start = min(start, len(items))
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = awsapi.NextToken(scope + strconv.Itoa(end))
	}
	return items[start:end], next, nil
}

type listImagesInput struct {
	RegistryID     string       `json:"registryId"`
	RepositoryName string       `json:"repositoryName"`
	NextToken      string       `json:"nextToken"`
	MaxResults     *int32       `json:"maxResults"`
	Filter         *imageFilter `json:"filter"`
}

type listImagesOutput struct {
	ImageIDs  []ImageIdentifier `json:"imageIds"`
	NextToken string            `json:"nextToken,omitempty"`
}

func (s *Service) listImages(ctx context.Context, _ *awsapi.Request, in *listImagesInput) (*listImagesOutput, error) {
	limit, err := awsapi.PageSize(in.MaxResults, 1000, 1000)
	if err != nil {
		return nil, err
	}
	images, err := s.images(ctx, in.RegistryID, in.RepositoryName, in.Filter)
	if err != nil {
		return nil, err
	}
	var ids []ImageIdentifier
	for _, im := range images {
		if len(im.Tags) == 0 {
			ids = append(ids, ImageIdentifier{ImageDigest: im.Digest.String()})
		}
		for _, tag := range im.Tags {
			ids = append(ids, ImageIdentifier{ImageDigest: im.Digest.String(), ImageTag: tag})
		}
	}
	ids, next, err := page(ids, in.NextToken, "list-images:"+in.RepositoryName+":", limit)
	if err != nil {
		return nil, err
	}
	return &listImagesOutput{ImageIDs: orEmpty(ids), NextToken: next}, nil
}

type describeImagesInput struct {
	RegistryID     string            `json:"registryId"`
	RepositoryName string            `json:"repositoryName"`
	ImageIDs       []ImageIdentifier `json:"imageIds"`
	NextToken      string            `json:"nextToken"`
	MaxResults     *int32            `json:"maxResults"`
	Filter         *imageFilter      `json:"filter"`
}

type describeImagesOutput struct {
	ImageDetails []ImageDetail `json:"imageDetails"`
	NextToken    string        `json:"nextToken,omitempty"`
}

func (s *Service) describeImages(ctx context.Context, _ *awsapi.Request, in *describeImagesInput) (*describeImagesOutput, error) {
	limit, err := awsapi.PageSize(in.MaxResults, 100, 1000)
	if err != nil {
		return nil, err
	}
	images, err := s.images(ctx, in.RegistryID, in.RepositoryName, in.Filter)
	if err != nil {
		return nil, err
	}
	if len(in.ImageIDs) > 0 {
		var picked []registry.Image
		for _, id := range in.ImageIDs {
			i := slices.IndexFunc(images, func(im registry.Image) bool { return matchesID(im, id) })
			if i < 0 {
				return nil, s.imageNotFound(id, in.RepositoryName)
			}
			picked = append(picked, images[i])
		}
		images = picked
	}
	images, next, err := page(images, in.NextToken, "describe-images:"+in.RepositoryName+":", limit)
	if err != nil {
		return nil, err
	}
	out := &describeImagesOutput{ImageDetails: []ImageDetail{}, NextToken: next}
	for _, im := range images {
		d, err := s.imageDetail(ctx, in.RepositoryName, im)
		if err != nil {
			return nil, err
		}
		out.ImageDetails = append(out.ImageDetails, d)
	}
	return out, nil
}

// imageDetail describes an image; its size is the manifest's plus the blobs it names, as
// ECR counts it.
func (s *Service) imageDetail(ctx context.Context, name string, im registry.Image) (ImageDetail, error) {
	sizes, err := s.registry.BlobSizes(ctx, name, im.Blobs)
	if err != nil {
		return ImageDetail{}, err
	}
	size := im.Size
	for _, n := range sizes {
		size += n
	}
	var pulled *awsapi.Timestamp
	if !im.LastPulledAt.IsZero() {
		t := awsapi.NewTimestamp(im.LastPulledAt)
		pulled = &t
	}
	return ImageDetail{
		LastRecordedPullTime:   pulled,
		RegistryID:             s.cfg.Account,
		RepositoryName:         name,
		ImageDigest:            im.Digest.String(),
		ImageTags:              im.Tags,
		ImageSizeInBytes:       size,
		ImagePushedAt:          awsapi.NewTimestamp(im.PushedAt),
		ImageManifestMediaType: im.MediaType,
		ArtifactMediaType:      im.ArtifactType,
		SubjectManifestDigest:  im.Subject.String(),
		ImageStatus:            "ACTIVE",
	}, nil
}

// matchesID reports whether an image is the one an identifier names (both parts must
// match when both are given).
func matchesID(im registry.Image, id ImageIdentifier) bool {
	if id.ImageDigest != "" && id.ImageDigest != im.Digest.String() {
		return false
	}
	if id.ImageTag != "" && !slices.Contains(im.Tags, id.ImageTag) {
		return false
	}
	return id.ImageDigest != "" || id.ImageTag != ""
}

func (s *Service) imageNotFound(id ImageIdentifier, name string) error {
	return awsapi.ClientError("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
		id.ImageDigest, id.ImageTag, name, s.cfg.Account)
}

type batchGetImageInput struct {
	RegistryID         string            `json:"registryId"`
	RepositoryName     string            `json:"repositoryName"`
	ImageIDs           []ImageIdentifier `json:"imageIds"`
	AcceptedMediaTypes []string          `json:"acceptedMediaTypes"`
}

type batchImagesOutput struct {
	Images   []imageItem    `json:"images"`
	Failures []ImageFailure `json:"failures"`
}

func (s *Service) batchGetImage(ctx context.Context, _ *awsapi.Request, in *batchGetImageInput) (*batchImagesOutput, error) {
	if n := len(in.ImageIDs); n == 0 || n > 100 {
		return nil, awsapi.InvalidParameter("imageIds: give 1 to 100 image ids, got %d", n)
	}
	images, err := s.images(ctx, in.RegistryID, in.RepositoryName, nil)
	if err != nil {
		return nil, err
	}
	out := &batchImagesOutput{Images: []imageItem{}, Failures: []ImageFailure{}}
	for _, id := range in.ImageIDs {
		i := slices.IndexFunc(images, func(im registry.Image) bool { return matchesID(im, id) })
		switch {
		case id.ImageDigest == "" && id.ImageTag == "":
			out.Failures = append(out.Failures, ImageFailure{id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"})
		case i < 0:
			out.Failures = append(out.Failures, ImageFailure{id, "ImageNotFound", "Requested image not found"})
		case len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, images[i].MediaType):
			out.Failures = append(out.Failures, ImageFailure{id, "UnsupportedImageType", "Image is " + images[i].MediaType + ", not one of acceptedMediaTypes"})
		default:
			img, err := s.getImage(ctx, in.RepositoryName, images[i], id)
			if err != nil {
				return nil, err
			}
			out.Images = append(out.Images, img)
		}
	}
	return out, nil
}

func (s *Service) getImage(ctx context.Context, name string, im registry.Image, id ImageIdentifier) (imageItem, error) {
	_, content, err := s.registry.ManifestContent(ctx, name, im.Digest.String())
	if err != nil {
		return imageItem{}, err
	}
	id.ImageDigest = im.Digest.String()
	return imageItem{RegistryID: s.cfg.Account, RepositoryName: name, ImageID: id, ImageManifest: string(content), ImageManifestMediaType: im.MediaType}, nil
}

type batchDeleteImageInput struct {
	RegistryID     string            `json:"registryId"`
	RepositoryName string            `json:"repositoryName"`
	ImageIDs       []ImageIdentifier `json:"imageIds"`
}

type batchDeleteImageOutput struct {
	ImageIDs []ImageIdentifier `json:"imageIds"`
	Failures []ImageFailure    `json:"failures"`
}

// batchDeleteImage deletes images by digest (with their tags) or removes tags; as in
// ECR, removing an image's last tag deletes the image.
func (s *Service) batchDeleteImage(ctx context.Context, _ *awsapi.Request, in *batchDeleteImageInput) (*batchDeleteImageOutput, error) {
	if n := len(in.ImageIDs); n == 0 || n > 100 {
		return nil, awsapi.InvalidParameter("imageIds: give 1 to 100 image ids, got %d", n)
	}
	if _, err := s.images(ctx, in.RegistryID, in.RepositoryName, nil); err != nil {
		return nil, err
	}
	out := &batchDeleteImageOutput{ImageIDs: []ImageIdentifier{}, Failures: []ImageFailure{}}
	for _, id := range in.ImageIDs {
		deleted, failure, err := s.deleteImage(ctx, in.RepositoryName, id)
		switch {
		case err != nil:
			return nil, err
		case failure != nil:
			out.Failures = append(out.Failures, *failure)
		default:
			out.ImageIDs = append(out.ImageIDs, deleted)
		}
	}
	return out, nil
}

func (s *Service) deleteImage(ctx context.Context, name string, id ImageIdentifier) (ImageIdentifier, *ImageFailure, error) {
	if id.ImageDigest == "" && id.ImageTag == "" {
		return id, &ImageFailure{id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"}, nil
	}
	images, err := s.registry.Images(ctx, name)
	if err != nil {
		return id, nil, err
	}
	i := slices.IndexFunc(images, func(im registry.Image) bool { return matchesID(im, id) })
	if i < 0 {
		return id, &ImageFailure{id, "ImageNotFound", "Requested image not found"}, nil
	}
	im := images[i]
	id.ImageDigest = im.Digest.String()
	if id.ImageTag != "" && len(im.Tags) > 1 {
		err = s.registry.Untag(ctx, name, id.ImageTag)
	} else {
		err = s.registry.DeleteImage(ctx, name, im.Digest)
	}
	if errors.Is(err, registry.ErrManifestUnknown) {
		return id, &ImageFailure{id, "ImageNotFound", "Requested image not found"}, nil
	}
	return id, nil, err
}

type putImageInput struct {
	RegistryID             string `json:"registryId"`
	RepositoryName         string `json:"repositoryName"`
	ImageManifest          string `json:"imageManifest"`
	ImageManifestMediaType string `json:"imageManifestMediaType"`
	ImageTag               string `json:"imageTag"`
	ImageDigest            string `json:"imageDigest"`
}

type putImageOutput struct {
	Image imageItem `json:"image"`
}

func (s *Service) putImage(ctx context.Context, _ *awsapi.Request, in *putImageInput) (*putImageOutput, error) {
	if err := s.checkRegistryID(in.RegistryID); err != nil {
		return nil, err
	}
	if _, _, err := s.loadRepo(ctx, in.RepositoryName); err != nil {
		return nil, err
	}
	if in.ImageManifest == "" {
		return nil, awsapi.InvalidParameter("imageManifest: required")
	}
	ref, tagParams := in.ImageTag, []string(nil)
	if in.ImageDigest != "" {
		ref = in.ImageDigest
		if in.ImageTag != "" {
			tagParams = []string{in.ImageTag}
		}
	}
	if ref == "" {
		ref = digest.Canonical.FromString(in.ImageManifest).String()
	}
	if err := s.checkAlreadyExists(ctx, in); err != nil {
		return nil, err
	}
	m, _, err := s.registry.PutManifest(ctx, in.RepositoryName, ref, tagParams, in.ImageManifestMediaType, []byte(in.ImageManifest))
	if err != nil {
		return nil, putImageError(err, in)
	}
	return &putImageOutput{Image: imageItem{RegistryID: s.cfg.Account, RepositoryName: in.RepositoryName,
		ImageID:       ImageIdentifier{ImageDigest: m.Digest.String(), ImageTag: in.ImageTag},
		ImageManifest: in.ImageManifest, ImageManifestMediaType: m.MediaType}}, nil
}

// checkAlreadyExists refuses re-putting a manifest under a tag that already names it, as
// ECR does (ImageAlreadyExistsException).
func (s *Service) checkAlreadyExists(ctx context.Context, in *putImageInput) error {
	if in.ImageTag == "" {
		return nil
	}
	m, _, err := s.registry.ManifestContent(ctx, in.RepositoryName, in.ImageTag)
	if errors.Is(err, registry.ErrManifestUnknown) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Digest.String() == digest.Canonical.FromString(in.ImageManifest).String() {
		return awsapi.ClientError("ImageAlreadyExistsException", "Image with digest '%s' and tag '%s' already exists in the repository with name '%s'", m.Digest, in.ImageTag, in.RepositoryName)
	}
	return nil
}

// putImageError translates registry refusals into ECR's exceptions.
func putImageError(err error, in *putImageInput) error {
	if errors.Is(err, registry.ErrTagImmutable) {
		return awsapi.ClientError("ImageTagAlreadyExistsException", "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the tag is immutable.", in.ImageTag, in.RepositoryName)
	}
	switch registry.ErrorCode(err) {
	case "MANIFEST_BLOB_UNKNOWN":
		return awsapi.ClientError("LayersNotFoundException", "%v", err)
	case "DIGEST_INVALID":
		return awsapi.ClientError("ImageDigestDoesNotMatchException", "%v", err)
	case "":
		return err
	}
	return awsapi.InvalidParameter("imageManifest: %v", err)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func parseImageDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", awsapi.InvalidParameter("imageDigest: %q is not a digest", s)
	}
	return d, nil
}

func isManifestUnknown(err error) bool { return errors.Is(err, registry.ErrManifestUnknown) }
