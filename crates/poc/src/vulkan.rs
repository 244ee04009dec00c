//! The Vulkan prover: vulkano 0.35, two compute pipelines whose SPIR-V `build.rs` compiles
//! from `shaders/*.comp` with `glslc`.
//!
//! The GPU generates `A` and every `B_t` itself (`gen.comp`, nothing is uploaded), multiplies
//! with a 128 x 128-tiled kernel (`matmul.comp`, 8 x 8 accumulators per invocation), ping-pongs
//! between two result buffers and copies the final one to host memory. Rounds are submitted in
//! batches of at most [`ROUNDS_PER_SUBMIT`] so that no single submission runs long enough to
//! trip a desktop driver's watchdog; before each batch the round budget is asked how many more
//! may start ([`Prover::compute_rounds`]), so a challenge stops within one round of its rule.
//!
//! This is the only module with `unsafe`: loading SPIR-V and recording dispatches are unsafe
//! in vulkano 0.35 (it cannot prove the shader well-behaved); each call carries its SAFETY note.

use crate::prover::{Computed, Prover, ProverError};
use crate::task::{Task, TILE};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use vulkano::buffer::{Buffer, BufferCreateInfo, BufferUsage, Subbuffer};
use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::command_buffer::{AutoCommandBufferBuilder, CommandBufferUsage, CopyBufferInfo};
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::descriptor_set::{DescriptorSet, WriteDescriptorSet};
use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};
use vulkano::device::{Device, DeviceCreateInfo, Queue, QueueCreateInfo, QueueFlags};
use vulkano::instance::{Instance, InstanceCreateFlags, InstanceCreateInfo};
use vulkano::memory::allocator::{AllocationCreateInfo, MemoryTypeFilter, StandardMemoryAllocator};
use vulkano::pipeline::compute::ComputePipelineCreateInfo;
use vulkano::pipeline::layout::PipelineDescriptorSetLayoutCreateInfo;
use vulkano::pipeline::{
    ComputePipeline, Pipeline, PipelineBindPoint, PipelineLayout, PipelineShaderStageCreateInfo,
};
use vulkano::shader::{ShaderModule, ShaderModuleCreateInfo};
use vulkano::sync::GpuFuture;
use vulkano::VulkanLibrary;

/// Rounds recorded in one command buffer.
pub const ROUNDS_PER_SUBMIT: u32 = 8;

/// Mesa's lavapipe (a CPU Vulkan device) on Debian x86-64.
pub const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

const GEN_SPV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gen.spv"));
const MATMUL_SPV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/matmul.spv"));

/// Workgroup edge of both shaders (`local_size_x = local_size_y = 16`).
const WG: u32 = 16;

/// Why the Vulkan path is unavailable or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VulkanError {
    /// The Vulkan loader could not be opened.
    #[error(
        "no Vulkan loader ({0}): install libvulkan1 and a driver (mesa-vulkan-drivers gives \
         the CPU device lavapipe); scripts/install-deps.sh does both"
    )]
    NoLibrary(String),
    /// The instance could not be created.
    #[error("cannot create a Vulkan instance: {0}")]
    Instance(String),
    /// The loader found no device with a compute queue.
    #[error(
        "no Vulkan device with a compute queue (VK_ICD_FILENAMES={icd}): install \
         mesa-vulkan-drivers for lavapipe (scripts/install-deps.sh) or a GPU driver"
    )]
    NoDevice {
        /// The value of `VK_ICD_FILENAMES`, or `(unset)`.
        icd: String,
    },
    /// No device matches the selector.
    #[error("no Vulkan device matches `{selector}`; devices: {available}")]
    NoMatch {
        /// The selector asked for.
        selector: String,
        /// The devices found, `index: name (type)`.
        available: String,
    },
    /// The task's matrices do not fit one storage buffer binding of this device.
    #[error("an {n} x {n} matrix needs {bytes} bytes, the device binds at most {max}")]
    TooLarge {
        /// Matrix size.
        n: u32,
        /// Bytes per matrix.
        bytes: u64,
        /// The device's `maxStorageBufferRange`.
        max: u64,
    },
    /// A Vulkan call failed.
    #[error("Vulkan {stage} failed: {message}")]
    Call {
        /// What was being done.
        stage: &'static str,
        /// Vulkano's message.
        message: String,
    },
}

fn call<E: fmt::Display>(stage: &'static str) -> impl FnOnce(E) -> VulkanError {
    move |e| VulkanError::Call {
        stage,
        message: e.to_string(),
    }
}

/// Which Vulkan device to use: `auto` (discrete GPU first, then integrated, virtual, CPU),
/// an index in the loader's enumeration order, or a case-insensitive name substring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DeviceSelector {
    /// The best device by type.
    #[default]
    Auto,
    /// The device at this index of [`list_devices`].
    Index(usize),
    /// The first device whose name contains this (case-insensitive).
    Name(String),
}

impl FromStr for DeviceSelector {
    type Err = std::convert::Infallible;

    /// `""` or `auto` -> Auto; digits -> Index; anything else -> Name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Ok(if s.is_empty() || s.eq_ignore_ascii_case("auto") {
            DeviceSelector::Auto
        } else if let Ok(i) = s.parse::<usize>() {
            DeviceSelector::Index(i)
        } else {
            DeviceSelector::Name(s.to_string())
        })
    }
}

impl fmt::Display for DeviceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSelector::Auto => f.write_str("auto"),
            DeviceSelector::Index(i) => write!(f, "{i}"),
            DeviceSelector::Name(s) => f.write_str(s),
        }
    }
}

/// One Vulkan device as the loader reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index in enumeration order ([`DeviceSelector::Index`]).
    pub index: usize,
    /// Device name (e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`, `NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Device type (`DiscreteGpu`, `Cpu`, ...).
    pub kind: String,
    /// Whether it has a compute queue.
    pub compute: bool,
}

/// Points the Vulkan loader at lavapipe ([`LAVAPIPE_ICD`]) when `VK_ICD_FILENAMES` is unset
/// and the file exists; returns whether it did. For tests and benchmarks: call it before any
/// thread reads the environment or creates a Vulkan instance.
pub fn use_lavapipe_if_unset() -> bool {
    if std::env::var_os("VK_ICD_FILENAMES").is_some()
        || !std::path::Path::new(LAVAPIPE_ICD).exists()
    {
        return false;
    }
    std::env::set_var("VK_ICD_FILENAMES", LAVAPIPE_ICD);
    true
}

fn instance() -> Result<Arc<Instance>, VulkanError> {
    let library = VulkanLibrary::new().map_err(|e| VulkanError::NoLibrary(e.to_string()))?;
    Instance::new(
        library,
        InstanceCreateInfo {
            flags: InstanceCreateFlags::ENUMERATE_PORTABILITY,
            ..Default::default()
        },
    )
    .map_err(|e| VulkanError::Instance(e.to_string()))
}

fn compute_queue_family(p: &PhysicalDevice) -> Option<u32> {
    p.queue_family_properties()
        .iter()
        .position(|q| q.queue_flags.intersects(QueueFlags::COMPUTE))
        .and_then(|i| u32::try_from(i).ok())
}

fn type_rank(t: PhysicalDeviceType) -> u8 {
    match t {
        PhysicalDeviceType::DiscreteGpu => 0,
        PhysicalDeviceType::IntegratedGpu => 1,
        PhysicalDeviceType::VirtualGpu => 2,
        PhysicalDeviceType::Cpu => 3,
        _ => 4,
    }
}

fn enumerate(instance: &Arc<Instance>) -> Result<Vec<Arc<PhysicalDevice>>, VulkanError> {
    Ok(instance
        .enumerate_physical_devices()
        .map_err(call("device enumeration"))?
        .collect())
}

fn info(index: usize, p: &PhysicalDevice) -> DeviceInfo {
    DeviceInfo {
        index,
        name: p.properties().device_name.clone(),
        kind: format!("{:?}", p.properties().device_type),
        compute: compute_queue_family(p).is_some(),
    }
}

/// The Vulkan devices the loader finds.
pub fn list_devices() -> Result<Vec<DeviceInfo>, VulkanError> {
    let instance = instance()?;
    Ok(enumerate(&instance)?
        .iter()
        .enumerate()
        .map(|(i, p)| info(i, p))
        .collect())
}

fn no_device() -> VulkanError {
    VulkanError::NoDevice {
        icd: std::env::var("VK_ICD_FILENAMES").unwrap_or_else(|_| "(unset)".to_string()),
    }
}

fn select(
    devices: &[Arc<PhysicalDevice>],
    selector: &DeviceSelector,
) -> Result<(Arc<PhysicalDevice>, u32), VulkanError> {
    let usable: Vec<(usize, &Arc<PhysicalDevice>, u32)> = devices
        .iter()
        .enumerate()
        .filter_map(|(i, p)| compute_queue_family(p).map(|q| (i, p, q)))
        .collect();
    if usable.is_empty() {
        return Err(no_device());
    }
    let found = match selector {
        DeviceSelector::Auto => usable
            .iter()
            .min_by_key(|(i, p, _)| (type_rank(p.properties().device_type), *i)),
        DeviceSelector::Index(want) => usable.iter().find(|(i, _, _)| i == want),
        DeviceSelector::Name(s) => {
            let s = s.to_lowercase();
            usable
                .iter()
                .find(|(_, p, _)| p.properties().device_name.to_lowercase().contains(&s))
        }
    };
    match found {
        Some((_, p, q)) => Ok(((*p).clone(), *q)),
        None => Err(VulkanError::NoMatch {
            selector: selector.to_string(),
            available: devices
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let d = info(i, p);
                    format!("{}: {} ({})", d.index, d.name, d.kind)
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn spirv_words(bytes: &[u8]) -> Result<Vec<u32>, VulkanError> {
    if bytes.len() & 3 != 0 || bytes.len() < 20 {
        return Err(VulkanError::Call {
            stage: "SPIR-V load",
            message: "bad length".into(),
        });
    }
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if words.first() != Some(&0x0723_0203) {
        return Err(VulkanError::Call {
            stage: "SPIR-V load",
            message: "bad magic".into(),
        });
    }
    Ok(words)
}

fn pipeline(device: &Arc<Device>, spv: &[u8]) -> Result<Arc<ComputePipeline>, VulkanError> {
    let words = spirv_words(spv)?;
    // SAFETY: the words are the SPIR-V that glslc (with -Werror, for Vulkan 1.0) produced from
    // shaders/*.comp at build time and that this crate embeds; vulkano parses and validates
    // the module's interface too. The shaders index their buffers within n * n (the dispatch
    // covers exactly the n x n entries, n a multiple of the tile) and have no loops that
    // depend on untrusted data beyond n, which the caller validated.
    let module = unsafe { ShaderModule::new(device.clone(), ShaderModuleCreateInfo::new(&words)) }
        .map_err(call("shader module creation"))?;
    let entry = module.entry_point("main").ok_or(VulkanError::Call {
        stage: "shader module",
        message: "no entry point `main`".into(),
    })?;
    let stage = PipelineShaderStageCreateInfo::new(entry);
    let layout = PipelineLayout::new(
        device.clone(),
        PipelineDescriptorSetLayoutCreateInfo::from_stages([&stage])
            .into_pipeline_layout_create_info(device.clone())
            .map_err(|e| VulkanError::Call {
                stage: "pipeline layout",
                message: format!("{e:?}"),
            })?,
    )
    .map_err(call("pipeline layout"))?;
    ComputePipeline::new(
        device.clone(),
        None,
        ComputePipelineCreateInfo::stage_layout(stage, layout),
    )
    .map_err(call("compute pipeline creation"))
}

/// The Vulkan prover: a device, its queue and the two pipelines.
pub struct VulkanProver {
    device: Arc<Device>,
    queue: Arc<Queue>,
    gen: Arc<ComputePipeline>,
    matmul: Arc<ComputePipeline>,
    memory: Arc<StandardMemoryAllocator>,
    descriptors: Arc<StandardDescriptorSetAllocator>,
    commands: Arc<StandardCommandBufferAllocator>,
    name: String,
    kind: PhysicalDeviceType,
}

impl fmt::Debug for VulkanProver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VulkanProver")
            .field("device", &self.name)
            .finish_non_exhaustive()
    }
}

impl VulkanProver {
    /// Opens the selected device. Fails with a typed error when there is no Vulkan loader,
    /// no device, or no device matching the selector.
    pub fn new(selector: &DeviceSelector) -> Result<VulkanProver, VulkanError> {
        let instance = instance()?;
        let devices = enumerate(&instance)?;
        let (physical, queue_family_index) = select(&devices, selector)?;
        let name = physical.properties().device_name.clone();
        let kind = physical.properties().device_type;
        let (device, mut queues) = Device::new(
            physical,
            DeviceCreateInfo {
                queue_create_infos: vec![QueueCreateInfo {
                    queue_family_index,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .map_err(call("device creation"))?;
        let queue = queues.next().ok_or(VulkanError::Call {
            stage: "device creation",
            message: "no queue returned".into(),
        })?;
        let gen = pipeline(&device, GEN_SPV)?;
        let matmul = pipeline(&device, MATMUL_SPV)?;
        let memory = Arc::new(StandardMemoryAllocator::new_default(device.clone()));
        let descriptors = Arc::new(StandardDescriptorSetAllocator::new(
            device.clone(),
            Default::default(),
        ));
        let commands = Arc::new(StandardCommandBufferAllocator::new(
            device.clone(),
            Default::default(),
        ));
        Ok(VulkanProver {
            device,
            queue,
            gen,
            matmul,
            memory,
            descriptors,
            commands,
            name,
            kind,
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    /// Whether the device is a CPU implementation (lavapipe, SwiftShader).
    pub fn is_cpu_device(&self) -> bool {
        self.kind == PhysicalDeviceType::Cpu
    }

    fn buffer(
        &self,
        words: u64,
        usage: BufferUsage,
        host: bool,
    ) -> Result<Subbuffer<[u32]>, VulkanError> {
        let memory_type_filter = if host {
            MemoryTypeFilter::PREFER_HOST | MemoryTypeFilter::HOST_RANDOM_ACCESS
        } else {
            MemoryTypeFilter::PREFER_DEVICE
        };
        Buffer::new_slice::<u32>(
            self.memory.clone(),
            BufferCreateInfo {
                usage,
                ..Default::default()
            },
            AllocationCreateInfo {
                memory_type_filter,
                ..Default::default()
            },
            words,
        )
        .map_err(call("buffer allocation"))
    }

    fn set(
        &self,
        pipeline: &Arc<ComputePipeline>,
        buffers: &[&Subbuffer<[u32]>],
    ) -> Result<Arc<DescriptorSet>, VulkanError> {
        let layout = pipeline
            .layout()
            .set_layouts()
            .first()
            .cloned()
            .ok_or(VulkanError::Call {
                stage: "descriptor set",
                message: "pipeline has no set layout".into(),
            })?;
        let writes = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| WriteDescriptorSet::buffer(i as u32, (*b).clone()));
        DescriptorSet::new(self.descriptors.clone(), layout, writes, [])
            .map_err(call("descriptor set"))
    }

    fn submit(
        &self,
        record: impl FnOnce(
            &mut AutoCommandBufferBuilder<vulkano::command_buffer::PrimaryAutoCommandBuffer>,
        ) -> Result<(), VulkanError>,
    ) -> Result<(), VulkanError> {
        let mut builder = AutoCommandBufferBuilder::primary(
            self.commands.clone(),
            self.queue.queue_family_index(),
            CommandBufferUsage::OneTimeSubmit,
        )
        .map_err(call("command buffer"))?;
        record(&mut builder)?;
        let cb = builder.build().map_err(call("command buffer build"))?;
        vulkano::sync::now(self.device.clone())
            .then_execute(self.queue.clone(), cb)
            .map_err(call("submit"))?
            .then_signal_fence_and_flush()
            .map_err(call("submit"))?
            .wait(None)
            .map_err(call("wait"))
    }

    fn compute_inner(
        &self,
        task: &Task,
        budget: &mut dyn FnMut(u32) -> u32,
    ) -> Result<Computed, VulkanError> {
        let n = task.params.n;
        let words = u64::from(n) * u64::from(n);
        let bytes = words * 4;
        let max = u64::from(
            self.device
                .physical_device()
                .properties()
                .max_storage_buffer_range,
        );
        if bytes > max {
            return Err(VulkanError::TooLarge { n, bytes, max });
        }
        let storage = BufferUsage::STORAGE_BUFFER | BufferUsage::TRANSFER_SRC;
        let bufs = [
            self.buffer(words, storage, false)?,
            self.buffer(words, storage, false)?,
        ];
        let bmat = self.buffer(words, BufferUsage::STORAGE_BUFFER, false)?;
        let staging = self.buffer(words, BufferUsage::TRANSFER_DST, true)?;

        let gen_a = self.set(&self.gen, &[&bufs[0]])?;
        let gen_b = self.set(&self.gen, &[&bmat])?;
        // mul[p]: bufs[p] x bmat -> bufs[1 - p]
        let mul = [
            self.set(&self.matmul, &[&bufs[0], &bmat, &bufs[1]])?,
            self.set(&self.matmul, &[&bufs[1], &bmat, &bufs[0]])?,
        ];
        let key = task.key().0;
        let gen_groups = [n.div_ceil(WG), n.div_ceil(WG), 1];
        let mul_groups = [n / TILE, n / TILE, 1];

        let gen_layout = self.gen.layout().clone();
        let mul_layout = self.matmul.layout().clone();
        let generate = |b: &mut AutoCommandBufferBuilder<_>, set: &Arc<DescriptorSet>, m: u32| {
            b.bind_pipeline_compute(self.gen.clone())
                .and_then(|b| {
                    b.bind_descriptor_sets(
                        PipelineBindPoint::Compute,
                        gen_layout.clone(),
                        0,
                        set.clone(),
                    )
                })
                .and_then(|b| {
                    b.push_constants(
                        gen_layout.clone(),
                        0,
                        [key[0], key[1], key[2], key[3], m, n],
                    )
                })
                .map_err(|e| VulkanError::Call {
                    stage: "record gen",
                    message: e.to_string(),
                })?;
            // SAFETY: gen.comp writes only data[r * n + c] for r, c < n (it returns early
            // outside), and the bound buffer holds exactly n * n words.
            unsafe { b.dispatch(gen_groups) }.map_err(|e| VulkanError::Call {
                stage: "dispatch gen",
                message: e.to_string(),
            })?;
            Ok::<(), VulkanError>(())
        };

        let mut parity = 0usize;
        let mut t = 0u32;
        self.submit(|b| generate(b, &gen_a, 0))?;
        while t < task.params.rounds {
            let allowed = budget(t).min(ROUNDS_PER_SUBMIT);
            if allowed == 0 {
                break;
            }
            let end = task.params.rounds.min(t.saturating_add(allowed));
            let start_parity = parity;
            self.submit(|b| {
                let mut p = start_parity;
                for round in t..end {
                    generate(b, &gen_b, round + 1)?;
                    b.bind_pipeline_compute(self.matmul.clone())
                        .and_then(|b| {
                            b.bind_descriptor_sets(
                                PipelineBindPoint::Compute,
                                mul_layout.clone(),
                                0,
                                mul[p].clone(),
                            )
                        })
                        .and_then(|b| b.push_constants(mul_layout.clone(), 0, n))
                        .map_err(|e| VulkanError::Call {
                            stage: "record matmul",
                            message: e.to_string(),
                        })?;
                    // SAFETY: matmul.comp reads a and b and writes c only at indices below
                    // n * n for the (n / 128)^2 workgroups dispatched here (n is a multiple
                    // of 128, checked by TaskParams::validate); the three bound buffers are
                    // distinct and hold n * n words each.
                    unsafe { b.dispatch(mul_groups) }.map_err(|e| VulkanError::Call {
                        stage: "dispatch matmul",
                        message: e.to_string(),
                    })?;
                    p = 1 - p;
                }
                Ok(())
            })?;
            parity = (start_parity + (end - t) as usize) % 2;
            t = end;
        }
        let result = bufs[parity].clone();
        self.submit(|b| {
            b.copy_buffer(CopyBufferInfo::buffers(result, staging.clone()))
                .map_err(|e| VulkanError::Call {
                    stage: "copy",
                    message: e.to_string(),
                })?;
            Ok(())
        })?;
        let guard = staging.read().map_err(call("read back"))?;
        Ok(Computed {
            rounds: t,
            data: guard.to_vec(),
        })
    }
}

impl Prover for VulkanProver {
    fn name(&self) -> String {
        format!("vulkan: {}", self.name)
    }

    fn compute_rounds(
        &self,
        task: &Task,
        budget: &mut dyn FnMut(u32) -> u32,
    ) -> Result<Computed, ProverError> {
        task.params.validate()?;
        Ok(self.compute_inner(task, budget)?)
    }
}
