//! An S3 server on a local directory, in process, for the object-store suites: s3s-fs
//! behind s3s's request handling (SigV4 authentication with one key pair, path-style
//! addressing), served over HTTP/1.1 on `127.0.0.1` from a thread of its own, so that a
//! backend's S3 client meets the protocol it meets in production.
//!
//! s3s-fs keeps a directory-marker object (`db.db/`, what a client's `create_dir` writes)
//! as a bare directory, which its listings and `HEAD` do not show: [`Markers`] answers for
//! them as S3 does, since catalogs test a database's existence through them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result};
use tokio::sync::oneshot;

/// A warehouse prefix not used before in this process: a case shrunk by proptest reruns
/// its seed, and must not find the tables of the run it shrinks.
pub fn fresh_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The key pair the server accepts.
pub const ACCESS_KEY: &str = "lakeunion";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "lakeunion-secret";
/// The region clients sign for.
pub const REGION: &str = "us-east-1";

/// A running S3 server; it stops, and its files go, when dropped.
pub struct S3Server {
    endpoint: String,
    root: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server on a free port over a new temporary directory.
    pub fn start() -> std::io::Result<Self> {
        let root = tempfile::tempdir()?;
        let fs = s3s_fs::FileSystem::new(root.path()).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let mut builder = S3ServiceBuilder::new(Markers {
            fs,
            root: root.path().to_path_buf(),
            put: Mutex::default(),
        });
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("s3-server".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let socket = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((socket, _)) => socket,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service.clone());
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
            });
        })?;
        Ok(Self {
            endpoint,
            root,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The server's base URI, `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates bucket `name` (a directory of the server's root) and returns its URI.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<String> {
        std::fs::create_dir_all(self.root.path().join(name))?;
        Ok(format!("s3://{name}"))
    }

    /// The objects stored under `prefix` of `bucket`, as keys relative to the bucket.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let base = self.root.path().join(bucket);
        let mut keys = Vec::new();
        walk(&base, &base.join(prefix), &mut keys);
        keys.sort();
        keys
    }

    /// The path on local disk of object `key` of `bucket`, to damage it in tests.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// The Paimon options (`PaimonConfig::options`) that reach this server.
    pub fn paimon_options(&self) -> BTreeMap<String, String> {
        self.client_options(["s3.access-key", "s3.secret-key"])
    }

    /// The Iceberg file IO properties (`IcebergConfig::properties`) that reach this server.
    pub fn iceberg_properties(&self) -> BTreeMap<String, String> {
        self.client_options(["s3.access-key-id", "s3.secret-access-key"])
    }

    /// Endpoint, region and path-style addressing, and the key pair under the names
    /// `[key, secret]` a client's options give them.
    fn client_options(&self, [key, secret]: [&str; 2]) -> BTreeMap<String, String> {
        [
            ("s3.endpoint", self.endpoint.as_str()),
            (key, ACCESS_KEY),
            (secret, SECRET_KEY),
            ("s3.region", REGION),
            ("s3.path-style-access", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

fn walk(base: &Path, dir: &Path, keys: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(base, &path, keys);
        } else if let Ok(key) = path.strip_prefix(base) {
            keys.push(key.to_string_lossy().into_owned());
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// s3s-fs with directory markers: the zero-byte objects `dir/` a client PUT, which s3s-fs
/// keeps as bare directories (and so would also answer for the directories that nested
/// keys make, which S3 does not have).
struct Markers {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
    /// The markers PUT and not deleted, as `(bucket, key)`.
    put: Mutex<BTreeSet<(String, String)>>,
}

impl Markers {
    /// Whether `key` of `bucket` is a marker a client PUT, still there.
    fn is_marker(&self, bucket: &str, key: &str) -> bool {
        let put = self
            .put
            .lock()
            .is_ok_and(|put| put.contains(&(bucket.to_string(), key.to_string())));
        put && self.root.join(bucket).join(key).is_dir()
    }

    fn record(&self, bucket: &str, key: &str, present: bool) {
        if !key.ends_with('/') {
            return;
        }
        if let Ok(mut put) = self.put.lock() {
            let entry = (bucket.to_string(), key.to_string());
            if present {
                put.insert(entry);
            } else {
                put.remove(&entry);
            }
        }
    }
}

/// Delegates each operation the backends' S3 clients use to s3s-fs (spelled as
/// `async_trait` expands an `async fn`: it does not see into macros).
macro_rules! delegate {
    ($($name:ident($input:ty) -> $output:ty;)*) => {$(
        fn $name<'life0, 'async_trait>(
            &'life0 self,
            req: S3Request<$input>,
        ) -> Pin<Box<dyn Future<Output = S3Result<S3Response<$output>>> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            self.fs.$name(req)
        }
    )*};
}

#[async_trait]
impl S3 for Markers {
    delegate! {
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        get_object(GetObjectInput) -> GetObjectOutput;
        copy_object(CopyObjectInput) -> CopyObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput;
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
        upload_part(UploadPartInput) -> UploadPartOutput;
        complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let response = self.fs.put_object(req).await?;
        self.record(&bucket, &key, true);
        Ok(response)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let response = self.fs.delete_object(req).await?;
        self.record(&bucket, &key, false);
        Ok(response)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        if self.is_marker(&req.input.bucket, &req.input.key) {
            return Ok(S3Response::new(HeadObjectOutput {
                content_length: Some(0),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                e_tag: Some(ETag::Strong("d41d8cd98f00b204e9800998ecf8427e".into())),
                ..Default::default()
            }));
        }
        self.fs.head_object(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let first_page = req.input.continuation_token.is_none() && req.input.start_after.is_none();
        let mut response = self.fs.list_objects_v2(req).await?;
        let output = &mut response.output;
        let empty = output.contents.as_ref().is_none_or(Vec::is_empty)
            && output.common_prefixes.as_ref().is_none_or(Vec::is_empty);
        // an empty directory lists as its marker alone
        if first_page && empty && self.is_marker(&bucket, &prefix) {
            output.contents = Some(vec![Object {
                key: Some(prefix),
                size: Some(0),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                // the MD5 of no bytes
                e_tag: Some(ETag::Strong("d41d8cd98f00b204e9800998ecf8427e".into())),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                ..Default::default()
            }]);
            output.key_count = Some(1);
        }
        Ok(response)
    }
}
