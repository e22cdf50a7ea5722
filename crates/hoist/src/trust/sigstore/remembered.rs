//! [`RememberedSignatures`]: a registry repository as a [`SignatureHome`] that reads each `.sig`
//! tag and signature blob once, for one command.
//!
//! A pull or a copy under a policy that requires signatures would read every image's `.sig`
//! twice: the verifier to judge the image, then the copy to carry the signatures (two round
//! trips per platform, each). Sharing one of these between the two (`hoist pull` makes one
//! per pull; a [`RegistryImage`](crate::copy::RegistryImage) source has one, which `hoist
//! copy` gives its judgement), the copy carries the very signatures that were judged — as
//! containers/image, which reads an image's signatures once per copy and both checks and
//! writes those — and asks the registry nothing more.
//!
//! What is kept: a tag's answer (its manifest bytes, or that there is none), and a blob only
//! when its bytes match its digest (a wrong answer is not kept, so the caller's own digest
//! check sees it every time). At most [`MAX_REMEMBERED`] bytes in all; past that, reads go to
//! the registry as before. Writing a tag forgets what was read of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use super::home::{HomeFuture, SigItem, SigPut, SignatureHome};
use crate::digest::Digest;
use crate::media::Descriptor;
use crate::registry::RemoteRepository;

/// The most bytes of `.sig` manifests and blobs one [`RememberedSignatures`] keeps (a
/// cosign `.sig` of one signature is about 1 KiB; an index of 100 platforms, 200 KiB).
pub const MAX_REMEMBERED: usize = 8 << 20;

/// A registry repository's signatures, each read once. Cheap to clone; clones share what
/// was read. See the module docs.
#[derive(Clone)]
pub struct RememberedSignatures {
    repository: Arc<RemoteRepository>,
    read: Arc<Mutex<Read>>,
}

#[derive(Default)]
struct Read {
    tags: HashMap<String, Option<Bytes>>,
    blobs: HashMap<Digest, Bytes>,
    bytes: usize,
}

impl Read {
    /// Whether `len` more bytes fit, counting them if so.
    fn room_for(&mut self, len: usize) -> bool {
        let fits = self.bytes + len <= MAX_REMEMBERED;
        if fits {
            self.bytes += len;
        }
        fits
    }
}

impl RememberedSignatures {
    /// The signatures of `repository`, nothing read yet.
    pub fn new(repository: Arc<RemoteRepository>) -> RememberedSignatures {
        RememberedSignatures {
            repository,
            read: Arc::default(),
        }
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Read> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SignatureHome for RememberedSignatures {
    fn sig_manifest<'a>(&'a self, tag: &'a str, image: &'a str) -> HomeFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            if let Some(known) = self.read().tags.get(tag) {
                return Ok(known.clone());
            }
            let found = self.repository.sig_manifest(tag, image).await?;
            let mut read = self.read();
            if read.room_for(found.as_ref().map_or(0, Bytes::len)) {
                read.tags.insert(tag.to_owned(), found.clone());
            }
            Ok(found)
        })
    }

    fn sig_blob<'a>(&'a self, blob: &'a Descriptor, image: &'a str) -> HomeFuture<'a, Bytes> {
        Box::pin(async move {
            if let Some(known) = self.read().blobs.get(&blob.digest) {
                return Ok(known.clone());
            }
            let bytes = self.repository.sig_blob(blob, image).await?;
            if Digest::of(blob.digest.algorithm(), &bytes) == blob.digest {
                let mut read = self.read();
                if read.room_for(bytes.len()) {
                    read.blobs.insert(blob.digest.clone(), bytes.clone());
                }
            }
            Ok(bytes)
        })
    }

    fn put_sig<'a>(&'a self, put: SigPut<'a>) -> HomeFuture<'a, ()> {
        if let SigItem::Manifest(tag) = &put.item {
            self.read().tags.remove(*tag);
        }
        self.repository.put_sig(put)
    }
}
