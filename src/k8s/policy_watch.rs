//! Keeps the [`PolicyStore`] current: reflectors on ClusterScanPolicy and
//! ScanException, and a whole new compiled [`PolicySet`] swapped in after
//! every change, so admission never waits on the API server.
//!
//! The objects are watched untyped and validated here, one by one, with the
//! loader's rules: an object written before an upgrade tightened the schema
//! must neither stop the watch (a typed watch fails the whole list on one
//! bad object) nor be half-applied. An invalid exception exempts nothing;
//! an invalid policy denies the pods it selects (see
//! [`crate::policy::CompiledPolicy::invalid`]). Each is made visible: a
//! Warning Event on the object, the gauge `scangate_invalid_policies{kind}`
//! and an error log line.

use crate::policy::compile::{EXCEPTION_KIND, POLICY_KIND};
use crate::policy::{ClusterScanPolicy, InvalidObject, ScanException};
use crate::ports::{AdmissionEvent, AdmissionEventReason, EventSink, PolicySet, PolicyStore};
use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// `scangate_invalid_policies{kind}`: objects of the cluster that failed
/// validation now.
#[derive(Debug, Clone, Default)]
pub struct PolicyMetrics {
    invalid: Family<KindLabel, Gauge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

impl PolicyMetrics {
    pub fn register(registry: &mut Registry) -> PolicyMetrics {
        let metrics = PolicyMetrics::default();
        registry.register(
            "scangate_invalid_policies",
            "ClusterScanPolicy and ScanException objects that failed validation, by kind (an invalid policy denies what it selects; an invalid exception exempts nothing)",
            metrics.invalid.clone(),
        );
        metrics
    }

    /// The number of invalid objects of `kind` now.
    pub fn invalid(&self, kind: &str) -> i64 {
        self.invalid
            .get_or_create(&KindLabel { kind: kind.into() })
            .get()
    }

    fn set(&self, set: &PolicySet) {
        for kind in [POLICY_KIND, EXCEPTION_KIND] {
            let count = i64::try_from(set.invalid_count(kind)).unwrap_or(i64::MAX);
            self.invalid
                .get_or_create(&KindLabel { kind: kind.into() })
                .set(count);
        }
    }
}

/// Where invalid objects are reported.
#[derive(Clone)]
pub struct PolicyReporting {
    pub events: Arc<dyn EventSink>,
    pub metrics: PolicyMetrics,
}

/// The running watches; dropping it does not stop them, [`abort`] does.
///
/// [`abort`]: PolicyWatch::abort
pub struct PolicyWatch {
    tasks: Vec<JoinHandle<()>>,
    policies: Store<DynamicObject>,
    exceptions: Store<DynamicObject>,
}

impl PolicyWatch {
    /// Starts watching all policies and all exceptions (every namespace;
    /// which namespaces' exceptions apply is decided by admission).
    pub fn start(client: Client, store: PolicyStore, reporting: PolicyReporting) -> PolicyWatch {
        let policy_resource = ApiResource::erase::<ClusterScanPolicy>(&());
        let exception_resource = ApiResource::erase::<ScanException>(&());
        let policy_writer = reflector::store::Writer::new(policy_resource.clone());
        let exception_writer = reflector::store::Writer::new(exception_resource.clone());
        let policies = policy_writer.as_reader();
        let exceptions = exception_writer.as_reader();
        let rebuild = Arc::new(Rebuild {
            store,
            policies: policies.clone(),
            exceptions: exceptions.clone(),
            reporting,
            reported: Mutex::new(BTreeSet::new()),
        });

        let policy_stream = reflector::reflector(
            policy_writer,
            watcher(
                Api::<DynamicObject>::all_with(client.clone(), &policy_resource),
                watcher::Config::default(),
            ),
        );
        let exception_stream = reflector::reflector(
            exception_writer,
            watcher(
                Api::<DynamicObject>::all_with(client, &exception_resource),
                watcher::Config::default(),
            ),
        );
        let tasks = vec![
            tokio::spawn(drive(policy_stream, rebuild.clone(), POLICY_KIND)),
            tokio::spawn(drive(exception_stream, rebuild, EXCEPTION_KIND)),
        ];
        PolicyWatch {
            tasks,
            policies,
            exceptions,
        }
    }

    /// Waits until both reflectors have completed their initial list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.policies.wait_until_ready().await?;
        self.exceptions.wait_until_ready().await
    }

    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Rebuild {
    store: PolicyStore,
    policies: Store<DynamicObject>,
    exceptions: Store<DynamicObject>,
    reporting: PolicyReporting,
    /// Refusals already reported, so a rebuild does not repeat them.
    reported: Mutex<BTreeSet<(String, String, String, String)>>,
}

impl Rebuild {
    fn publish(&self) {
        let documents = |store: &Store<DynamicObject>, kind: &str| {
            let mut objects: Vec<Arc<DynamicObject>> = store.state();
            // A stable order makes verdicts and messages reproducible.
            objects.sort_by(|a, b| {
                (&a.meta().namespace, &a.meta().name).cmp(&(&b.meta().namespace, &b.meta().name))
            });
            objects
                .iter()
                .map(|o| document(o, kind))
                .collect::<Vec<_>>()
        };
        let set = PolicySet::from_objects(
            &documents(&self.policies, POLICY_KIND),
            &documents(&self.exceptions, EXCEPTION_KIND),
        );
        self.report(&set.invalid);
        self.reporting.metrics.set(&set);
        self.store.replace(set);
    }

    /// A log line and a Warning Event for each newly invalid object.
    fn report(&self, invalid: &[InvalidObject]) {
        let Ok(mut reported) = self.reported.lock() else {
            return;
        };
        let now: BTreeSet<_> = invalid
            .iter()
            .map(|o| {
                (
                    o.kind.clone(),
                    o.namespace.clone().unwrap_or_default(),
                    o.name.clone(),
                    o.message.clone(),
                )
            })
            .collect();
        for object in invalid {
            let key = (
                object.kind.clone(),
                object.namespace.clone().unwrap_or_default(),
                object.name.clone(),
                object.message.clone(),
            );
            if reported.contains(&key) {
                continue;
            }
            let consequence = if object.kind == POLICY_KIND {
                "it denies every pod it selects until fixed"
            } else {
                "it exempts nothing until fixed"
            };
            tracing::error!(kind = %object.kind, namespace = object.namespace.as_deref().unwrap_or(""),
                name = %object.name, error = %object.message, "invalid policy object; {consequence}");
            self.reporting.events.emit(AdmissionEvent {
                reason: AdmissionEventReason::InvalidPolicy,
                event_type: "Warning",
                // Events are namespaced: a cluster-scoped object's go to `default`.
                namespace: object.namespace.clone().unwrap_or_else(|| "default".into()),
                kind: object.kind.clone(),
                name: object.name.clone(),
                message: format!(
                    "{}; {consequence}: fix the field named (kubectl edit) or delete the object",
                    object.message
                ),
            });
        }
        *reported = now;
    }
}

/// The object as the document the loader checks. List items may omit
/// `apiVersion` and `kind`: those of the watched resource are used. An
/// object that cannot be written out becomes one that is refused (its
/// name only), never one that is dropped.
fn document(object: &DynamicObject, kind: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(object).unwrap_or_else(|error| {
        tracing::error!(%error, kind, name = ?object.meta().name, "cannot read a policy object");
        serde_json::json!({"metadata": {"name": object.meta().name, "namespace": object.meta().namespace}})
    });
    if let Some(fields) = value.as_object_mut()
        && object.types.is_none()
    {
        fields.insert(
            "apiVersion".into(),
            crate::policy::compile::API_VERSION.into(),
        );
        fields.insert("kind".into(), kind.into());
    }
    value
}

async fn drive<S>(stream: S, rebuild: Arc<Rebuild>, kind: &'static str)
where
    S: futures::Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>> + Send,
{
    // The backoff keeps the watch alive across API server restarts.
    let stream = stream.default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) | Ok(watcher::Event::InitApply(_)) => {}
            Ok(_) => rebuild.publish(),
            Err(error) => tracing::warn!(%error, kind, "watch failed; retrying"),
        }
    }
}
