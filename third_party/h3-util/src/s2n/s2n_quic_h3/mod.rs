// Copyright Amazon.com, Inc. or its affiliates. All Rights Reserved.
// SPDX-License-Identifier: Apache-2.0

mod s2n_quic;

pub use self::s2n_quic::*;
// pub use h3;
