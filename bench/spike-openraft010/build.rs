fn main() {
    tonic_prost_build::compile_protos("proto/spike.proto").expect("protoc compiles the spike's proto");
}
