//! CPU-heavy request work (signature verification of proposed entries) runs here, off the
//! async workers: on a blocking thread, at most one job per core at a time. While hostile or
//! merely large requests verify, the workers stay free for health checks, reads and
//! everything else; extra jobs wait for a permit instead of piling up threads.

use super::ApiError;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct VerifyPool {
    permits: Arc<Semaphore>,
}

impl VerifyPool {
    /// One permit per core: verification is pure CPU, so more would only queue in the kernel.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        VerifyPool {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Runs `job` on a blocking thread once a permit is free.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(format!("verification pool closed: {e}")))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| ApiError::Internal(format!("verification job failed: {e}")))
    }
}
