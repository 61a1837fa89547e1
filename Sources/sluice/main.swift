import Foundation
import SluiceCLI

exit(SluiceMain.run(CommandLine.arguments))
