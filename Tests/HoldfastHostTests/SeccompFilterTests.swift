import Foundation
import Glibc
import Testing

@testable import HoldfastHost

/// The seccomp filter refuses what a shell never needs, in a real sandbox, and nothing a shell does.
@Suite("Seccomp filter")
struct SeccompFilterTests {
    @Test(arguments: SeccompFilter.Architecture.allCases)
    func theProgramIsOneTheKernelLoads(_ architecture: SeccompFilter.Architecture) throws {
        let program = try SeccompFilter.instructions(for: architecture)
        #expect(program.count < SeccompFilter.maximumLength)
        #expect(SeccompFilter.encode(program).count == program.count * 8)
        // It starts by checking the ABI, and what falls through every rule is allowed.
        #expect(program.first == .init(code: SeccompFilter.Opcode.loadWord, jumpIfTrue: 0, jumpIfFalse: 0, k: SeccompFilter.Offset.arch))
        #expect(program.last == .init(code: SeccompFilter.Opcode.return, jumpIfTrue: 0, jumpIfFalse: 0, k: SeccompFilter.Action.allow))
        let actions = [
            SeccompFilter.Action.allow, SeccompFilter.Action.killProcess, SeccompFilter.Action.errno(EPERM),
            SeccompFilter.Action.errno(ENOSYS),
        ]
        for (index, instruction) in program.enumerated() {
            switch instruction.code {
            case SeccompFilter.Opcode.jumpIfEqual, SeccompFilter.Opcode.jumpIfAnySet:
                #expect(index + 1 + Int(instruction.jumpIfTrue) < program.count)
                #expect(index + 1 + Int(instruction.jumpIfFalse) < program.count)
            case SeccompFilter.Opcode.jump:
                #expect(index + 1 + Int(instruction.k) < program.count)
            case SeccompFilter.Opcode.return:
                #expect(actions.contains(instruction.k))
            case SeccompFilter.Opcode.loadWord:
                // Inside `struct seccomp_data` (64 bytes), word-aligned.
                #expect(instruction.k < 64 && instruction.k % 4 == 0)
            default:
                Issue.record("unexpected opcode \(instruction.code) at \(index)")
            }
        }
    }

    @Test func everyRefusedCallHasANumberExceptThoseAarch64Lacks() {
        for name in SeccompFilter.refused {
            #expect(SeccompFilter.Architecture.x86_64.number(of: name) != nil, "\(name)")
        }
        let absent = SeccompFilter.refused.filter { SeccompFilter.Architecture.aarch64.number(of: $0) == nil }
        #expect(absent == ["iopl", "ioperm"])
        // No two names share a number: a typo that duplicates one would leave the other call open.
        for architecture in SeccompFilter.Architecture.allCases {
            let numbers = (SeccompFilter.refused + ["ioctl", "clone", "clone3", "personality"]).compactMap { architecture.number(of: $0) }
            #expect(Set(numbers).count == numbers.count, "\(architecture)")
        }
    }

    /// The decisions, run through a classic-BPF interpreter: this covers aarch64, which this host cannot run.
    @Test(arguments: SeccompFilter.Architecture.allCases)
    func theProgramDecidesAsDocumented(_ architecture: SeccompFilter.Architecture) throws {
        let program = try SeccompFilter.instructions(for: architecture)
        func decide(_ name: String, _ arguments: [UInt64] = [], arch: UInt32? = nil) -> UInt32 {
            let number = architecture.number(of: name) ?? ordinaryCalls[architecture]![name]!
            return decision(program, number: number, arch: arch ?? architecture.auditArch, arguments: arguments)
        }
        let refuse = SeccompFilter.Action.errno(EPERM)
        let allow = SeccompFilter.Action.allow
        for name in SeccompFilter.refused where architecture.number(of: name) != nil {
            #expect(decide(name) == refuse, "\(name)")
        }
        for name in ["read", "write", "openat", "execve", "wait4", "ptrace", "kill"] {
            #expect(decide(name) == allow, "\(name)")
        }
        #expect(decide("clone3") == SeccompFilter.Action.errno(ENOSYS))
        // fork (SIGCHLD) and a thread (glibc's flags) pass; any namespace flag is refused, and
        // the high word, which the kernel ignores, changes nothing.
        #expect(decide("clone", [0x0000_0011]) == allow)
        #expect(decide("clone", [0x003D_0F00]) == allow)
        for flag: UInt64 in [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000] {
            #expect(decide("clone", [flag | 0x11]) == refuse, "\(flag)")
        }
        #expect(decide("clone", [0xFFFF_FFFF_0000_0011]) == allow)
        #expect(decide("clone", [0xFFFF_FFFF_1000_0011]) == refuse)
        #expect(decide("ioctl", [0, 0x5412]) == refuse)
        #expect(decide("ioctl", [0, 0x541C]) == refuse)
        #expect(decide("ioctl", [0, 0x1_0000_5412]) == refuse)
        #expect(decide("ioctl", [0, 0x5413]) == allow)  // TIOCGWINSZ
        #expect(decide("personality", [0xFFFF_FFFF]) == allow)
        #expect(decide("personality", [0x0004_0000]) == allow)  // ADDR_NO_RANDOMIZE, for gdb
        #expect(decide("personality", [0x0040_0000]) == refuse)  // READ_IMPLIES_EXEC
        // Another ABI is killed, whatever the call.
        #expect(decide("read", arch: 0x4000_0003) == SeccompFilter.Action.killProcess)
        if architecture == .x86_64 {
            let x32Read = decision(program, number: 0x4000_0000, arch: architecture.auditArch, arguments: [])
            #expect(x32Read == SeccompFilter.Action.killProcess)
            // A tracer's "skip this call" passes (the kernel answers ENOSYS).
            #expect(decision(program, number: UInt32.max, arch: architecture.auditArch, arguments: []) == allow)
        }
    }

    @Test func inASandboxTheRefusedCallsFailWithEPERMAndOnlyBecauseOfTheFilter() async throws {
        let architecture = try SeccompFilter.Architecture.current()
        func number(_ name: String) -> UInt32 { architecture.number(of: name)! }
        // Each call, with arguments that make it fail *differently* without the filter (or
        // succeed), so the test shows the filter is what refuses it. The raw `clone` with
        // CLONE_NEWUSER behaves like fork when it goes through: the child exits at once.
        let script = """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            def call(name, nr, *args):
                ctypes.set_errno(0)
                r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
                if name == "clone" and r == 0:
                    os._exit(0)
                if name == "clone" and r > 0:
                    os.waitpid(r, 0)
                print(name, ctypes.get_errno() if r == -1 else 0, flush=True)
            call("keyctl", \(number("keyctl")), 0, -3, 1)
            call("bpf", \(number("bpf")), 9999, 0, 0)
            call("mount", \(number("mount")), 0, 0, 0, 0, 0)
            call("clone", \(number("clone")), 0x10000000 | 17, 0, 0, 0, 0)
            call("clone3", \(number("clone3")), 0, 0)
            call("ioctl", \(number("ioctl")), 0, 0x5412, ctypes.addressof(ctypes.c_char(b"x")))
            call("personality", \(number("personality")), 0x0400000)
            call("query", \(number("personality")), 0xffffffff)
            call("unshare", \(number("unshare")), 0x10000000)
            """
        let filtered = try await runInSandbox(["/usr/bin/python3", "-c", script], filtered: true)
        let unfiltered = try await runInSandbox(["/usr/bin/python3", "-c", script], filtered: false)
        #expect(filtered.status == .exited(0), "\(filtered.output)")
        #expect(unfiltered.status == .exited(0), "\(unfiltered.output)")
        let refused = errnos(filtered.output)
        let open = errnos(unfiltered.output)
        for name in ["keyctl", "bpf", "mount", "clone", "ioctl", "personality", "unshare"] {
            #expect(refused[name] == EPERM, "\(name): \(filtered.output)")
            #expect(open[name] != nil && open[name] != EPERM, "\(name) without the filter: \(unfiltered.output)")
        }
        #expect(refused["clone3"] == ENOSYS)
        #expect(open["clone3"] == EINVAL)
        #expect(refused["query"] == 0)
    }

    @Test func ordinaryWorkRunsUnderTheFilter() async throws {
        let script = """
            ls / >/dev/null && echo ls=ok
            sh -c 'echo sh=ok'
            (true) && sleep 0 & wait $! && echo fork=ok
            /usr/bin/python3 -c 'import threading; t = threading.Thread(target=lambda: print("thread=ok")); t.start(); t.join()'
            unshare --user true 2>/dev/null && echo unshare=allowed || echo unshare=refused
            strace -f -o /dev/null /bin/true && echo ptrace=ok
            """
        let result = try await runInSandbox(["/bin/sh", "-c", script], filtered: true)
        #expect(result.status == .exited(0))
        #expect(
            result.output.split(separator: "\n") == ["ls=ok", "sh=ok", "fork=ok", "thread=ok", "unshare=refused", "ptrace=ok"],
            "\(result.output)")
    }

    @Test(.enabled(if: (try? SeccompFilter.Architecture.current()) == .x86_64))
    func aForeignSystemCallABIKillsTheProcess() async throws {
        // getpid through the x32 ABI, then through the i386 one (`mov eax, 20; int 0x80; ret`
        // in an executable page).
        let script = """
            /usr/bin/python3 -c 'import ctypes; print(ctypes.CDLL(None).syscall(0x40000000 | 39))'; echo x32=$?
            /usr/bin/python3 -c '
            import ctypes, mmap
            page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            page.write(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))
            print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))())'; echo i386=$?
            """
        let filtered = try await runInSandbox(["/bin/sh", "-c", script], filtered: true)
        let unfiltered = try await runInSandbox(["/bin/sh", "-c", script], filtered: false)
        // 159 = 128 + SIGSYS: killed by seccomp.
        #expect(filtered.output.contains("x32=159"), "\(filtered.output)")
        #expect(!unfiltered.output.contains("=159"), "\(unfiltered.output)")
        // Without the filter the i386 call works where the kernel has IA-32 emulation.
        if unfiltered.output.contains("i386=0") {
            #expect(filtered.output.contains("i386=159"), "\(filtered.output)")
        }
    }
}

/// Runs `arguments` in a bubblewrap sandbox, with the filter on descriptor 3 as `bwrap --seccomp 3`
/// reads it when `filtered`.
private func runInSandbox(_ arguments: [String], filtered: Bool) async throws -> CommandResult {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("seccomp-\(UUID()).bpf").path
    try Data(try SeccompFilter.program()).write(to: URL(fileURLWithPath: file))
    defer { try? FileManager.default.removeItem(atPath: file) }
    let seccomp = filtered ? "--seccomp 3" : ""
    return try await ProcessSpawner.run(
        Command(
            "/bin/sh",
            [
                "-c", "exec 3<\"$1\"; shift; exec /usr/bin/bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid \(seccomp) \"$@\"",
                "sh", file,
            ] + arguments,
            environment: ["PATH": "/usr/bin:/bin"]
        ),
        timeout: .seconds(30)
    )
}

/// Numbers of calls the filter does not name, to show they pass.
private let ordinaryCalls: [SeccompFilter.Architecture: [String: UInt32]] = [
    .x86_64: ["read": 0, "write": 1, "openat": 257, "execve": 59, "wait4": 61, "ptrace": 101, "kill": 62],
    .aarch64: ["read": 63, "write": 64, "openat": 56, "execve": 221, "wait4": 260, "ptrace": 117, "kill": 129],
]

/// "name errno" lines as a dictionary.
private func errnos(_ output: String) -> [String: Int32] {
    var result: [String: Int32] = [:]
    for line in output.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 2, let value = Int32(fields[1]) { result[String(fields[0])] = value }
    }
    return result
}

/// What `program` returns for a call, interpreted as the kernel would (the subset of classic BPF the filter uses).
private func decision(_ program: [SeccompFilter.Instruction], number: UInt32, arch: UInt32, arguments: [UInt64]) -> UInt32 {
    func word(at offset: UInt32) -> UInt32 {
        switch offset {
        case 0: return number
        case 4: return arch
        case 8, 12: return 0
        default:
            let index = Int(offset - 16) / 8
            let argument = index < arguments.count ? arguments[index] : 0
            return offset % 8 == 0 ? UInt32(truncatingIfNeeded: argument) : UInt32(truncatingIfNeeded: argument >> 32)
        }
    }
    var accumulator: UInt32 = 0
    var index = 0
    while index < program.count {
        let instruction = program[index]
        index += 1
        switch instruction.code {
        case SeccompFilter.Opcode.loadWord: accumulator = word(at: instruction.k)
        case SeccompFilter.Opcode.jump: index += Int(instruction.k)
        case SeccompFilter.Opcode.jumpIfEqual:
            index += Int(accumulator == instruction.k ? instruction.jumpIfTrue : instruction.jumpIfFalse)
        case SeccompFilter.Opcode.jumpIfAnySet:
            index += Int(accumulator & instruction.k != 0 ? instruction.jumpIfTrue : instruction.jumpIfFalse)
        case SeccompFilter.Opcode.return: return instruction.k
        default: return 0
        }
    }
    return 0
}
